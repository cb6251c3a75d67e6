"""The session factory's settings, on the test run's real local session."""

from __future__ import annotations

import pytest

from lakehouse.config import SparkSettings
from lakehouse.runtime.spark import (
    COMMON_CONF,
    QUICK_JIT,
    apply_conf,
    jit_options,
    spark_jobs_started,
    spark_step,
)
from tests.spark_jobs import recorded_jobs


def test_apply_conf_puts_hadoop_keys_on_the_hadoop_configuration(spark):
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        apply_conf(spark, {"spark.hadoop.lakehouse.test.setting": "on",
                           "spark.sql.shuffle.partitions": "3"})
        assert hadoop.get("lakehouse.test.setting") == "on"
        assert spark.conf.get("spark.hadoop.lakehouse.test.setting", None) is None
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        hadoop.unset("lakehouse.test.setting")
        spark.conf.set("spark.sql.shuffle.partitions", partitions)


@pytest.mark.parametrize(("jit", "small_run", "quick"), [
    ("auto", True, True), ("auto", False, False),
    ("quick", False, True), ("quick", True, True),
    ("peak", True, False), ("peak", False, False)])
def test_jit_is_quick_when_set_or_for_a_small_run_on_auto(jit, small_run, quick):
    asked: list[bool] = []

    def is_small() -> bool:
        asked.append(small_run)
        return small_run

    options = jit_options(SparkSettings(jit=jit), is_small)
    assert options == (QUICK_JIT if quick else ())
    assert asked == ([small_run] if jit == "auto" else [])  # a forced setting asks nothing
    assert jit_options(SparkSettings(jit=jit)) == (QUICK_JIT if jit == "quick" else ())
    assert QUICK_JIT == ("-XX:TieredStopAtLevel=1",)


def test_a_local_session_has_every_hadoop_setting(spark):
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in COMMON_CONF.items():
        if key.startswith("spark.hadoop."):
            assert hadoop.get(key.removeprefix("spark.hadoop.")) == value, key


def test_local_frame_holds_what_create_dataframe_holds_without_an_rdd(spark):
    import datetime as dt
    from decimal import Decimal

    from pyspark.sql import types as T

    from lakehouse.runtime.spark import local_frame

    schema = T.StructType([
        T.StructField("text", T.StringType()), T.StructField("count", T.LongType()),
        T.StructField("rate", T.DecimalType(6, 2)), T.StructField("day", T.DateType()),
        T.StructField("at", T.TimestampType()), T.StructField("flag", T.BooleanType()),
        T.StructField("share", T.DoubleType())])
    rows = [("it's \"quoted\", `ticked` and :colon", 2**40, Decimal("12.34"),
             dt.date(2024, 2, 29), dt.datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=dt.UTC),
             True, 0.1),
            (None, None, None, None, dt.datetime(2024, 3, 1, 12, 30, 5, 7), False, None)]
    frame = local_frame(spark, rows, schema)
    assert frame.schema == schema
    assert frame.collect() == spark.createDataFrame(rows, schema).collect()
    # no RDD of pickled rows (which Python workers unpickle in a job of its own)
    assert "ExistingRDD" not in frame._jdf.queryExecution().executedPlan().toString()
    assert "ExistingRDD" in spark.createDataFrame(rows, schema)._jdf.queryExecution() \
        .executedPlan().toString()
    empty = local_frame(spark, [], schema)
    assert empty.schema == schema and empty.count() == 0


def test_spark_step_names_the_jobs_of_its_block_and_restores_the_outer_name(spark):
    from concurrent.futures import ThreadPoolExecutor

    def count() -> int:
        return spark.range(3).count()

    started = spark_jobs_started(spark)
    with recorded_jobs(spark) as jobs:
        count()
        with spark_step(spark, "run-1", "silver.x", "parse"):
            count()
            with spark_step(spark, "run-1", "gate.silver.x", "check"):
                count()
            count()
            with ThreadPoolExecutor(1) as pool:  # another thread's jobs are not named by it
                pool.submit(count).result()
        count()
    assert [(j.group, j.description, j.pool) for j in jobs] == [
        (None, None, None),
        ("run-1:silver.x", "silver.x: parse", "silver.x"),
        ("run-1:gate.silver.x", "gate.silver.x: check", "gate.silver.x"),
        ("run-1:silver.x", "silver.x: parse", "silver.x"),
        (None, None, None),
        (None, None, None)]
    # the session schedules pools fairly: each step's pool exists (a FIFO session, where
    # every job waits in one queue, ignores the jobs' pools and keeps none)
    context = spark.sparkContext._jsc.sc()
    assert context.getSchedulingMode().toString() == "FAIR"
    assert context.getPoolForName("silver.x").isDefined()
    assert context.getPoolForName("gate.silver.x").isDefined()
    # the jobs counted, named or not (the benchmark's per-phase job counts)
    assert spark_jobs_started(spark) - started == len(jobs) == 6


class _StartedContext:
    """Spark's context as a job's script finds it on Glue: started with ``settings``."""

    def __init__(self, settings: dict[str, str]) -> None:
        self._settings = settings

    def getConf(self):  # SparkContext's name
        from pyspark import SparkConf

        return SparkConf(loadDefaults=False).setAll(list(self._settings.items()))


@pytest.fixture
def on_glue(spark, monkeypatch):
    """``awsglue`` as a Glue job has it, over the test run's session; ``SparkContext.getOrCreate``
    records the settings it is given and answers a context started with what the test puts in
    ``started`` (by default: those settings, as when the job's script starts the context)."""
    import sys
    import types

    from pyspark.context import SparkContext

    context = types.ModuleType("awsglue.context")

    class GlueContext:
        def __init__(self, started) -> None:
            self.started = started
            self.spark_session = spark

    context.GlueContext = GlueContext
    package = types.ModuleType("awsglue")
    package.context = context
    monkeypatch.setitem(sys.modules, "awsglue", package)
    monkeypatch.setitem(sys.modules, "awsglue.context", context)
    asked: dict[str, object] = {"started": None}

    def get_or_create(conf=None):
        asked["conf"] = conf
        settings = asked["started"] if asked["started"] is not None else dict(
            conf.getAll() if conf is not None else [])
        return _StartedContext(settings)

    monkeypatch.setattr(SparkContext, "getOrCreate", get_or_create)
    # _glue_session sets Glue's SQL settings on the session: the test run's are put back
    saved = {key: spark.conf.get(key, None) for key in
             {**COMMON_CONF, "spark.sql.codegen.hugeMethodLimit": ""}
             if not key.startswith("spark.hadoop.")}
    yield asked
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def test_a_glue_job_starts_its_context_scheduling_pools_fairly(spark, on_glue, caplog):
    from lakehouse.runtime.spark import CONTEXT_CONF, LOCAL_CONF, _glue_session

    assert CONTEXT_CONF["spark.scheduler.mode"] == "FAIR"
    assert all(LOCAL_CONF[key] == value for key, value in CONTEXT_CONF.items())
    with caplog.at_level("WARNING", logger="lakehouse.runtime.spark"):
        assert _glue_session() is spark
    assert on_glue["conf"] is not None, "the context was started without the job's settings"
    assert dict(on_glue["conf"].getAll()).get("spark.scheduler.mode") == "FAIR"
    assert not caplog.records


def test_a_glue_context_started_before_the_job_is_named_with_the_setting_it_lacks(
        spark, on_glue, caplog):
    from lakehouse.runtime.spark import _glue_session

    on_glue["started"] = {"spark.scheduler.mode": "FIFO"}
    with caplog.at_level("WARNING", logger="lakehouse.runtime.spark"):
        assert _glue_session() is spark
    assert [r.getMessage() for r in caplog.records] == [
        "the Spark context was started with spark.scheduler.mode=FIFO, not FAIR: set it "
        "where the context starts (a Glue job argument: --conf spark.scheduler.mode=FAIR)"]
