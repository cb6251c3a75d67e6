"""The one Spark session factory: local mode on a laptop or CI, GlueContext's session on Glue."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.config import SparkSettings
from lakehouse.runtime import class_archive
from lakehouse.runtime.java import resolve_java_home

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)
LOG4J_CONF = Path(__file__).with_name("log4j2.properties")

# Settings every session needs, on Glue as locally: UTC everywhere, Delta-compatible Parquet,
# lenient (non-throwing) date parsing so bad values become quarantine rows, not failed jobs.
COMMON_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.hadoop.parquet.enable.summary-metadata": "false",
    # Parquet keeps a column dictionary-encoded while its dictionary fits this size (1 MB by
    # default) and writes every value in full past it. A keyed card token is 64 characters:
    # 1 MB holds 16 k cards, fewer than a row group of silver.transactions sees, so the token
    # column was stored in full: 55 MB of the table's columns for 1 M rows. Rewritten with
    # 8 MB, the table took 139 MB instead of 187 MB, and no longer to write (4.5 s either way).
    # Columns of unique values (ids, row hashes) give up at the limit either way.
    "spark.hadoop.parquet.dictionary.page.size": str(8 * 1024 * 1024),
    "spark.sql.sources.partitionOverwriteMode": "static",
    # Without this, CSV rows with too few or too many fields are not flagged as malformed
    # whenever a column of the file is not selected (a leading index column, an unknown column).
    "spark.sql.csv.parser.columnPruning.enabled": "false",
}

# Java 17's G1 gives up an allocation after two waits for the GC locker (held while native code -
# Snappy, zstd, zlib - works on a Java array) and can throw OutOfMemoryError with most of the
# heap free (JDK-8192647): a known hazard for Spark's native codecs, guarded against here, not
# one shown to have caused a failure of this pipeline. Later Javas pin regions instead
# (JEP 423) and drop the flag, hence IgnoreUnrecognizedVMOptions.
_GC_LOCKER_OPTIONS = ("-XX:+IgnoreUnrecognizedVMOptions", "-XX:+UnlockDiagnosticVMOptions",
                      "-XX:GCLockerRetryAllocationCount=100")

# HotSpot never compiles a method of more than 8,000 bytes of bytecode: it runs interpreted.
# The code Spark generates for a whole stage is one such method when the stage's expressions are
# many (the parse of a source: a field's text, then its value, then its checks, as steps in one
# stage). Measured on 1 M transactions: the parse took about 26 s interpreted, 13.8 s compiled.
_COMPILE_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
# Where the JVM's options are not ours to set (Glue), Spark is told to give up whole-stage code
# generation for such a stage instead: its operators' own generated code is split into small
# methods that HotSpot compiles (17.2 s for the same parse).
_HUGE_METHOD_LIMIT = {"spark.sql.codegen.hugeMethodLimit": "8000"}

# A local JVM compiles in two tiers: C1 at once, then C2, slowly and far better, for what stays
# hot. On two cores C2 competes with the tasks: a day's run at 1 M transactions spent 25 s of
# CPU in C2 and 8 s in C1 within 36 s, and nothing ran long enough to repay it. C1 alone
# ("quick") cut that run to 27.5-27.8 s from 32.0 s (with the class archive; 31.5-32.7 s from
# 35.8-37.7 s without) and `make demo` by about 3.5 s; the full load at 1 M took 150.7 s
# instead of 107.0 s (the parse of 1 M rows is C2's to win), and the day at 4 M was the same
# either way (54.0 / 53.9 s).
QUICK_JIT = ("-XX:TieredStopAtLevel=1",)


def jit_options(settings: SparkSettings,
                small_run: Callable[[], bool] | None = None) -> tuple[str, ...]:
    """The JVM options for ``settings.jit``; ``auto`` is quick when ``small_run()`` says the run
    is small (asked only then: it may read the lake)."""
    quick = settings.jit == "quick" or (settings.jit == "auto" and small_run is not None
                                        and small_run())
    return QUICK_JIT if quick else ()


# Settings a Spark context reads once, as it starts: on Glue too, where the job's script starts
# the context (``_glue_session``).
#
# Each step's jobs run in a pool of their own (``spark_step``), and the pools are served
# fairly: a core that a task frees goes to the pool running the fewest tasks. In one queue
# (FIFO, Spark's default), a small entity's gate or merge (jobs of a task or two) waited until
# every task of the large entity's stage ahead of it had started. Full loads of 1 M
# transactions, alternated: the 17 k customers' gate took 2.6-2.7 s against 21.5-23.5 s, the
# workflow 132.7-134.0 s against 142.8-144.0 s.
CONTEXT_CONF = {"spark.scheduler.mode": "FAIR"}

LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    **CONTEXT_CONF,
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.files.maxPartitionBytes": str(64 * 1024 * 1024),
    "spark.driver.extraJavaOptions": " ".join([
        "-Dderby.system.home=/tmp", "-XX:+UseG1GC", *_GC_LOCKER_OPTIONS, _COMPILE_HUGE_METHODS,
        f"-Dlog4j.configurationFile=file:{LOG4J_CONF}"]),
    "spark.sql.warehouse.dir": os.path.join(os.getcwd(), "spark-warehouse"),
    "spark.sql.catalogImplementation": "in-memory",
    # Without a UI, Spark's status store still keeps the last 1,000 queries (their plans, with
    # every metric) and jobs: a run of many small gate queries over wide plans filled most of a
    # 2 GB heap with them. A batch job needs none of that.
    "spark.sql.ui.retainedExecutions": "10",
    "spark.ui.retainedJobs": "20",
    "spark.ui.retainedStages": "20",
    "spark.ui.retainedTasks": "500",
    "spark.ui.dagGraph.retainedRootRDDs": "20",
    # Generated code is cached by its source text, 100 classes by default: fewer than one run's
    # plans (about 170 Spark jobs over a small batch, most of them the gates'), so a session that
    # runs the pipeline again (tests, notebooks, a long-lived driver) compiled everything again,
    # and the JIT compiled the new classes again. Static: it can only be set here.
    "spark.sql.codegen.cache.maxEntries": "1000",
}


def _import_functions(spark: SparkSession) -> None:
    """Makes PySpark's ``functions`` a direct import of the Python-to-Java bridge (py4j).

    PySpark looks the class up by its short name on every call of ``pyspark.sql.functions``;
    py4j tries the name in each package the bridge imports (``java.lang``,
    ``org.apache.spark.api.java``, ...) before ``org.apache.spark.sql``, and every miss searches
    all of Spark's jars. With the class imported by name the first candidate is the right one:
    208 against 537 microseconds a call here, and the pipeline builds its expressions with
    thousands of such calls."""
    from py4j.java_gateway import java_import

    java_import(spark._jvm, "org.apache.spark.sql.functions")


def running_on_glue() -> bool:
    """True inside an AWS Glue job (the awsglue package is importable there only)."""
    try:
        import awsglue  # noqa: F401
    except ImportError:
        return False
    return True


def _glue_session() -> SparkSession:
    from awsglue.context import GlueContext
    from pyspark import SparkConf
    from pyspark.context import SparkContext

    # A job's script starts Glue's Spark context, so it takes the context's settings; a context
    # started before (an interactive session's) keeps its own, which is said.
    context = SparkContext.getOrCreate(SparkConf().setAll(list(CONTEXT_CONF.items())))
    started = context.getConf()
    for key, value in CONTEXT_CONF.items():
        if started.get(key, None) != value:
            log.warning("the Spark context was started with %s=%s, not %s: set it where the "
                        "context starts (a Glue job argument: --conf %s=%s)", key,
                        started.get(key, None), value, key, value)
    glue_context = GlueContext(context)
    spark = glue_context.spark_session
    _import_functions(spark)
    apply_conf(spark, {**COMMON_CONF, **_HUGE_METHOD_LIMIT})
    return spark


_HADOOP = "spark.hadoop."


def apply_conf(spark: SparkSession, conf: dict[str, str]) -> None:
    """``conf`` set on a running session (Glue's, which the job does not build): SQL settings
    on the session, ``spark.hadoop.*`` settings on the Hadoop configuration every later job
    starts from (Spark reads those keys only when the context starts)."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in conf.items():
        if key.startswith(_HADOOP):
            hadoop.set(key.removeprefix(_HADOOP), value)
        else:
            spark.conf.set(key, value)


def _local_session(settings: SparkSettings, app_name: str, write_archive: bool,
                   small_run: Callable[[], bool] | None) -> SparkSession:
    java_home = resolve_java_home()
    os.environ["JAVA_HOME"] = str(java_home)
    # Workers must run the same interpreter (and so the same packages) as the driver.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    conf: dict[str, Any] = {**COMMON_CONF, **LOCAL_CONF,
                            "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
                            "spark.default.parallelism": str(settings.shuffle_partitions),
                            "spark.driver.memory": settings.driver_memory,
                            **settings.extra}
    java_options = conf["spark.driver.extraJavaOptions"]
    # not part of the archive's key: an archive holds classes, not compiled code, and one
    # written by a quick JVM serves the others
    jit = jit_options(settings, small_run)
    archive = class_archive.plan(java_home, java_options, write=write_archive)
    log.info("starting local Spark (%s, Java at %s, JIT %s)", settings.master,
             os.environ["JAVA_HOME"], "quick: C1 only" if jit else "peak: C1 then C2")
    try:
        spark = _start(settings, app_name, conf, (*jit, *archive.options))
    except Exception:
        if not archive.options:
            raise
        # A JVM that cannot map an archive it was given crashes rather than going without
        # (a truncated file: SIGBUS). The archive was checked when it was put in place, but a
        # session must never depend on a cache: it is set aside, and the session starts without.
        log.warning("Spark did not start with the class archive %s; starting without it",
                    archive.archive)
        archive.discard()
        archive = class_archive.ArchivePlan(note="set aside after a failed start")
        spark = _start(settings, app_name, conf, jit)
    spark.sparkContext.setLogLevel("ERROR")
    _import_functions(spark)
    archive.started(spark)
    log.info("class archive: %s", (f"writing {archive.archive} at exit" if archive.writes
                                   else f"mapping {archive.archive}" if archive.archive
                                   else archive.note))
    return spark


def _start(settings: SparkSettings, app_name: str, conf: dict[str, Any],
           java_options: tuple[str, ...]) -> SparkSession:
    from pyspark.sql import SparkSession

    options = " ".join([conf["spark.driver.extraJavaOptions"], *java_options])
    builder = SparkSession.builder.master(settings.master or "local[2]").appName(app_name)
    for key, value in {**conf, "spark.driver.extraJavaOptions": options}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def get_spark(settings: SparkSettings | None = None, app_name: str = "lakehouse", *,
              write_archive: bool = False,
              small_run: Callable[[], bool] | None = None) -> SparkSession:
    """The active session if there is one, else Glue's on Glue, else a new local one.

    A new local session maps the class archive (``lakehouse.runtime.class_archive``) when
    there is one; ``write_archive``: when there is none, this session writes it as its JVM
    exits (pipeline runs, which load the classes every run needs). ``small_run``: whether the
    session's run reads little (``lakehouse.pipeline.workload``), asked only when a new local
    session starts with ``jit: auto``, which then compiles with C1 only (``jit_options``)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if running_on_glue():
        return _glue_session()
    return _local_session(settings or SparkSettings(), app_name, write_archive, small_run)


JOB_GROUP = "spark.jobGroup.id"
JOB_DESCRIPTION = "spark.job.description"
JOB_POOL = "spark.scheduler.pool"


@contextmanager
def job_names(spark: SparkSession, group: str, description: str,
              pool: str | None = None) -> Iterator[None]:
    """The Spark jobs this thread starts inside the block are in job group ``group`` and
    described as ``description``: Spark's UI (and Glue's) lists them so, instead of "parquet
    at NativeMethodAccessorImpl.java:0"; its status tracker finds them by the group. ``pool``:
    the scheduler pool they share the cores in (a local session schedules its pools fairly;
    None: the thread's own). What the thread had set before is set again after."""
    context = spark.sparkContext
    names = {JOB_GROUP: group, JOB_DESCRIPTION: description}
    if pool is not None:
        names[JOB_POOL] = pool
    before: dict[str, Any] = {key: context.getLocalProperty(key) for key in names}
    for key, value in names.items():
        context.setLocalProperty(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            context.setLocalProperty(key, value)  # None unsets it


def spark_step(spark: SparkSession, run_id: str, step: str,
               doing: str | None = None) -> AbstractContextManager[None]:
    """``job_names`` after a run's step in ``ops.run_log``: group ``<run id>:<step>``,
    description ``<step>: <doing>``, in the step's scheduler pool (named ``<step>``: the same
    few pools in every run of a session)."""
    return job_names(spark, f"{run_id}:{step}", f"{step}: {doing}" if doing else step,
                     pool=step)


def spark_jobs_started(spark: SparkSession) -> int:
    """How many Spark jobs the session has started so far, named or not (job ids are
    sequential). Spark's status tracker lists only the jobs it retains (20 here) and, asked
    without a group, only those outside any group: every job of a run has one."""
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())


def stop_spark() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def local_frame(spark: SparkSession, rows: Iterable[Sequence[Any]],
                schema: StructType) -> DataFrame:
    """A DataFrame of a few rows held in the driver (Python values in ``schema``'s column
    order, as ``createDataFrame`` takes them), built without a Spark job of its own.

    ``createDataFrame`` of Python rows makes an RDD whose rows Python workers unpickle: every
    read of the frame is a job of a task per core, each starting a Python worker (0.4-0.5 s for
    the small side of a broadcast join, in each run that lands files). Here the rows travel as
    one JSON text, a parameter of a query that ``from_json`` expands in the JVM: timestamps and
    dates as PySpark encodes them (microseconds and days since the epoch, naive datetimes read
    as local time), decimals as text; other types as JSON has them."""
    import json

    from pyspark.sql import types as T

    def wire(kind: T.DataType) -> T.DataType:
        if isinstance(kind, T.TimestampType | T.DateType):
            return T.LongType()
        if isinstance(kind, T.DecimalType):
            return T.StringType()
        return kind

    def encode(value: Any, kind: T.DataType) -> Any:
        if value is None:
            return None
        if isinstance(kind, T.TimestampType | T.DateType):
            return kind.toInternal(value)
        if isinstance(kind, T.DecimalType):
            return str(value)
        return value

    def restore(field: T.StructField) -> str:
        name = f"`{field.name}`"
        if isinstance(field.dataType, T.TimestampType):
            return f"timestamp_micros({name}) AS {name}"
        if isinstance(field.dataType, T.DateType):
            return f"date_from_unix_date(CAST({name} AS INT)) AS {name}"
        return f"CAST({name} AS {field.dataType.simpleString()}) AS {name}"

    fields = schema.fields
    text = json.dumps([{f.name: encode(v, f.dataType) for f, v in zip(fields, row, strict=True)}
                       for row in rows])
    shape = T.ArrayType(T.StructType([T.StructField(f.name, wire(f.dataType))
                                      for f in fields])).simpleString()
    return spark.sql(f"SELECT {', '.join(restore(f) for f in fields)} "
                     f"FROM (SELECT inline(from_json(:rows, '{shape}')))", args={"rows": text})
