"""What the harness runs in its own processes, so that each run's memory and time are its own.

``python -m benchmarks.worker pipeline --lake L --landing D --result R.json``
    One run of the real workflow (``lakehouse.pipeline.workflow.run_workflow``: Bronze -> Silver
    -> Gold -> catalog), in a fresh process and a fresh Spark session, with each step timed.

``python -m benchmarks.worker baselines --lake L --landing D --scratch S --result R.json``
    The references, in a fresh Spark session with the same configuration: plain Spark reading
    the same landing files and writing Parquet; a plain Spark group-by over the Silver
    transactions files; DuckDB doing the same group-by over the same files.

Every timestamp in the result is wall-clock (``time.time()``), so that the harness can match
phases with its memory samples; every duration is measured with ``time.perf_counter()``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class Phases:
    """Named, timed phases of one process, with the Spark jobs each started once a session is
    known (``self.spark``)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.spark: Any = None

    def jobs(self) -> int | None:
        from lakehouse.runtime.spark import spark_jobs_started

        return None if self.spark is None else spark_jobs_started(self.spark)

    def time(self, name: str, action: Callable[[], T]) -> T:
        start, clock, jobs = time.time(), time.perf_counter(), self.jobs()
        try:
            return action()
        finally:
            item = {"name": name, "start": start, "end": time.time(),
                    "seconds": round(time.perf_counter() - clock, 3)}
            after = self.jobs()
            if jobs is not None and after is not None:
                item["spark_jobs"] = after - jobs
            self.items.append(item)

    def seconds(self, name: str) -> float | None:
        found = [p["seconds"] for p in self.items if p["name"] == name]
        return round(sum(found), 3) if found else None


def _settings(args: argparse.Namespace) -> Any:
    from lakehouse.config import load_settings

    # environ={}: nothing from the caller's LAKEHOUSE_* variables; the tokenization key is the
    # one exception (lakehouse.pii.keys reads $LAKEHOUSE_TOKEN_KEY from the process
    # environment, which the harness sets to a benchmark-only key).
    return load_settings(lake_root=args.lake, landing_root=args.landing, environ={})


def _spark(settings: Any, phases: Phases) -> Any:
    from lakehouse.runtime.spark import get_spark

    spark = phases.time("spark_start", lambda: get_spark(settings.spark, app_name="bench"))
    phases.spark = spark
    return spark


# -- the real workflow ---------------------------------------------------------------------------

def _instrument(phases: Phases) -> list[str]:
    """Time the workflow's steps where ``run_workflow`` calls them; returns what was timed.

    The workflow itself is unchanged: its step classes are replaced by subclasses whose
    ``run`` is timed, and the catalog step's function by a timed wrapper.
    """
    import lakehouse.pipeline.workflow as wf

    timed = []
    if hasattr(wf, "BronzeToSilver"):
        class TimedBronzeToSilver(wf.BronzeToSilver):
            def run(self) -> Any:
                return phases.time("bronze_to_silver", super().run)

        wf.BronzeToSilver = TimedBronzeToSilver  # type: ignore[misc]
        timed.append("bronze_to_silver")
    if hasattr(wf, "SilverToGold"):
        class TimedSilverToGold(wf.SilverToGold):
            def run(self) -> Any:
                return phases.time("silver_to_gold", super().run)

        wf.SilverToGold = TimedSilverToGold  # type: ignore[misc]
        timed.append("silver_to_gold")
    if hasattr(wf, "register_catalog"):
        register = wf.register_catalog

        def timed_register(settings: Any, progress: Any) -> Any:
            return phases.time("register_catalog", lambda: register(settings, progress))

        wf.register_catalog = timed_register
        timed.append("register_catalog")
    return timed


def _instrument_gates(phases: Phases, calls: list[dict[str, Any]]) -> None:
    """Record each quality gate: its time as measured here, its expectations, and the Spark
    jobs it started (for gates validated together: their time from ``validate_all``, and the
    call's jobs)."""
    from lakehouse.quality.gates import QualityGates

    validate = QualityGates.validate

    def timed_validate(self: Any, table: str, df: Any, expectations: list[Any],
                       run_id: str, **kwargs: Any) -> Any:
        jobs, clock = phases.jobs(), time.perf_counter()
        result = validate(self, table, df, expectations, run_id, **kwargs)
        after = phases.jobs()
        calls.append({"table": table, "seconds": round(time.perf_counter() - clock, 3),
                      "expectations": len(expectations), "engine": result.engine,
                      "rows": result.rows,
                      "spark_jobs": None if jobs is None or after is None else after - jobs})
        return result

    validate_all = QualityGates.validate_all

    def timed_validate_all(self: Any, gates: list[Any], run_id: str) -> Any:
        # gates validated together (Gold's) overlap: their Spark jobs are counted for the call,
        # on its first gate, and each time is the gate's own (from the end of the one before)
        jobs = phases.jobs()
        results = validate_all(self, gates, run_id)
        after = phases.jobs()
        total = None if jobs is None or after is None else after - jobs
        for index, (gate, result) in enumerate(zip(gates, results, strict=True)):
            calls.append({"table": gate.table, "seconds": result.seconds,
                          "expectations": len(gate.expectations), "engine": result.engine,
                          "rows": result.rows, "spark_jobs": total if index == 0 else None,
                          "together": len(gates)})
        return results

    QualityGates.validate = timed_validate  # type: ignore[method-assign]
    QualityGates.validate_all = timed_validate_all  # type: ignore[method-assign,assignment]


def pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from lakehouse.pipeline.workflow import run_workflow
    from lakehouse.pipeline.workload import estimate, pipeline_spark
    from lakehouse.runtime.spark import jit_options

    phases = Phases()
    timed = _instrument(phases)
    gates: list[dict[str, Any]] = []
    _instrument_gates(phases, gates)
    settings = _settings(args)
    # the session a user's `lakehouse run` starts: its JIT chosen by the run's workload
    workload = estimate(settings)
    spark = phases.time("spark_start", lambda: pipeline_spark(settings))
    phases.spark = spark
    log: list[tuple[float, str]] = []
    started = time.time()

    def progress(message: str) -> None:
        log.append((round(time.time() - started, 3), message))

    report = phases.time("workflow", lambda: run_workflow(settings, spark=spark,
                                                           progress=progress))
    return {
        "task": "pipeline", "run_id": report.run_id, "blocked": report.blocked,
        "nothing_new": report.nothing_new, "timed_steps": timed,
        "phases": phases.items, "gates": gates, "summary": report.summary(), "progress": log,
        "spark": settings.spark.model_dump(), "workload": workload.describe(),
        "jit": "quick" if jit_options(settings.spark, lambda: workload.small) else "peak",
    }


# -- references ----------------------------------------------------------------------------------

def _csv_to_parquet(spark: Any, settings: Any, scratch: Path) -> dict[str, Any]:
    """Plain Spark: read every landing file of every source as it is (CSV with its header,
    JSON lines), write Parquet. No schema, no validation, no Delta."""
    from lakehouse.io.landing import list_landing

    sources: dict[str, Any] = {}
    for source in settings.sources.values():
        paths = [entry.uri for entry in list_landing(settings.landing_root, source)]
        if not paths:
            continue
        clock = time.perf_counter()
        if source.format == "csv":
            frame = (spark.read.option("header", source.csv.header)
                     .option("sep", source.csv.delimiter).csv(paths))
        else:
            frame = spark.read.json(paths)
        out = scratch / "landing_parquet" / source.name
        frame.write.mode("overwrite").parquet(str(out))
        rows = _parquet_rows(out)
        sources[source.name] = {"files": len(paths), "rows": rows,
                                "seconds": round(time.perf_counter() - clock, 3)}
    return sources


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def silver_transaction_files(lake_root: str) -> list[str]:
    from deltalake import DeltaTable

    from lakehouse.io.lake import Lake, TableId

    lake = Lake.at(lake_root)
    return list(DeltaTable(lake.uri(TableId("silver", "transactions"))).file_uris())


def _spark_groupby(spark: Any, files: list[str], scratch: Path) -> dict[str, float]:
    """The Gold aggregations in plain Spark over the Silver transactions files: per card,
    per card x month x category, per day x category x state; each written as Parquet."""
    from pyspark.sql import functions as F

    tx = spark.read.parquet(*files)
    fraud = F.col("is_fraud").cast("int")
    queries = {
        "per_card": tx.groupBy("card_token").agg(
            F.count("*").alias("txn_count"), F.sum("amount").alias("total_spend"),
            F.avg("amount").alias("avg_spend"), F.min("trans_ts").alias("first_txn_ts"),
            F.max("trans_ts").alias("last_txn_ts"), F.sum(fraud).alias("fraud_count")),
        "monthly": tx.groupBy("card_token", F.trunc("trans_date", "month").alias("month"),
                              "category").agg(
            F.count("*").alias("txn_count"), F.sum("amount").alias("spend"),
            F.sum(fraud).alias("fraud_count")),
        "fraud_daily": tx.groupBy("trans_date", "category", "state").agg(
            F.count("*").alias("txn_count"), F.sum(fraud).alias("fraud_count"),
            F.sum("amount").alias("amount"),
            F.sum(F.when(F.col("is_fraud"), F.col("amount")).otherwise(0))
            .alias("fraud_amount")).withColumn(
            "fraud_rate", F.col("fraud_count") / F.col("txn_count")),
    }
    seconds = {}
    for name, frame in queries.items():
        clock = time.perf_counter()
        frame.write.mode("overwrite").parquet(str(scratch / "spark_groupby" / name))
        seconds[name] = round(time.perf_counter() - clock, 3)
    return seconds


DUCKDB_QUERIES = {
    "per_card": """
        SELECT card_token, count(*) AS txn_count, sum(amount) AS total_spend,
               avg(amount) AS avg_spend, min(trans_ts) AS first_txn_ts,
               max(trans_ts) AS last_txn_ts, sum(CAST(is_fraud AS INTEGER)) AS fraud_count
        FROM tx GROUP BY card_token""",
    "monthly": """
        SELECT card_token, date_trunc('month', trans_date) AS month, category,
               count(*) AS txn_count, sum(amount) AS spend,
               sum(CAST(is_fraud AS INTEGER)) AS fraud_count
        FROM tx GROUP BY ALL""",
    "fraud_daily": """
        SELECT trans_date, category, state, count(*) AS txn_count,
               sum(CAST(is_fraud AS INTEGER)) AS fraud_count, sum(amount) AS amount,
               sum(CASE WHEN is_fraud THEN amount ELSE 0 END) AS fraud_amount,
               sum(CAST(is_fraud AS INTEGER)) / count(*) AS fraud_rate
        FROM tx GROUP BY ALL""",
}


def duckdb_groupby(files: list[str], scratch: Path) -> dict[str, Any]:
    """The same three aggregations in DuckDB (one process, all cores), written as Parquet."""
    import duckdb

    from benchmarks.lakeinfo import scalar

    db = duckdb.connect()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    db.execute(f"CREATE VIEW tx AS SELECT * FROM read_parquet([{listed}])")
    out = scratch / "duckdb_groupby"
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, Any] = {}
    for name, sql in DUCKDB_QUERIES.items():
        clock = time.perf_counter()
        db.execute(f"COPY ({sql}) TO '{out / name}.parquet' (FORMAT parquet)")
        seconds[name] = round(time.perf_counter() - clock, 3)
    seconds["threads"] = scalar(db, "SELECT current_setting('threads')")
    db.close()
    return seconds


def baselines(args: argparse.Namespace) -> dict[str, Any]:
    phases = Phases()
    settings = _settings(args)
    scratch = Path(args.scratch)
    spark = _spark(settings, phases)
    landing = phases.time("csv_to_parquet", lambda: _csv_to_parquet(spark, settings, scratch))
    files = silver_transaction_files(args.lake)
    groupby = phases.time("spark_groupby", lambda: _spark_groupby(spark, files, scratch))
    spark.stop()
    phases.spark = None
    duck = phases.time("duckdb_groupby", lambda: duckdb_groupby(files, scratch))
    return {"task": "baselines", "phases": phases.items, "csv_to_parquet": landing,
            "spark_groupby": groupby, "duckdb_groupby": duck, "silver_files": len(files),
            "spark": settings.spark.model_dump()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("task", choices=("pipeline", "baselines"))
    parser.add_argument("--lake", required=True)
    parser.add_argument("--landing", required=True)
    parser.add_argument("--scratch", help="baselines: where their output goes")
    parser.add_argument("--result", required=True, help="JSON file for the result")
    args = parser.parse_args(argv)
    task = {"pipeline": pipeline, "baselines": baselines}[args.task]
    try:
        result = task(args)
        code = 0
    except BaseException as exc:  # report any failure to the harness, then exit non-zero
        result = {"task": args.task, "error": f"{exc.__class__.__name__}: {exc}",
                  "traceback": traceback.format_exc()}
        code = 1
    Path(args.result).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
