"""The whole workflow: landing -> Bronze -> Silver -> Gold behind gates, and what a gate blocks."""

from __future__ import annotations

import csv
import itertools
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.errors import QualityGateError
from lakehouse.generate import generate
from lakehouse.gold import build as gold_build
from lakehouse.io.delta import delta_io
from lakehouse.io.lake import Lake, TableId
from lakehouse.pipeline.silver_to_gold import silver_to_gold
from lakehouse.pipeline.workflow import run_workflow
from lakehouse.quality.gates import DQ_RESULTS
from tests.lakes import stray_files, workflow_lake
from tests.spark_jobs import Job, recorded_jobs

pytestmark = pytest.mark.integration

GOLD = ["gold.customer_summary", "gold.customer_monthly_spend", "gold.fraud_daily",
        "gold.loan_default_features"]
SILVER = ["silver.transactions", "silver.customers", "silver.customers_history",
          "silver.loans"]


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    settings, report = workflow_lake(spark, root, customers=60, months=2, seed=11,
                                     defect_rate=0.02)
    lake = Lake.at(settings.lake_root)
    return {"root": root, "settings": settings, "report": report, "lake": lake,
            "delta": delta_io(spark, lake)}


def read(world, name):
    return world["delta"].read(TableId.parse(name))


def versions(world, names):
    return {n: world["delta"].version(TableId.parse(n)) for n in names}


def test_gold_reconciles_with_silver(world):
    assert not world["report"].blocked
    tx = read(world, "silver.transactions")
    summary = read(world, "gold.customer_summary")
    silver_total = tx.agg(F.sum("amount")).first()[0]
    assert summary.agg(F.sum("total_spend")).first()[0] == silver_total
    assert summary.agg(F.sum("txn_count")).first()[0] == tx.count()
    assert read(world, "gold.fraud_daily").agg(F.sum("amount")).first()[0] == silver_total
    assert read(world, "gold.customer_monthly_spend").agg(F.sum("spend")).first()[0] == \
        silver_total
    assert summary.count() == summary.select("customer_key").distinct().count()
    customers = read(world, "silver.customers").count()
    card_only = summary.where(F.col("customer_id").isNull())
    assert card_only.count() > 0, "cardholders without a customer record are covered"
    assert card_only.where(~F.col("customer_key").startswith("card:")).count() == 0
    assert summary.count() >= customers
    loans = read(world, "gold.loan_default_features")
    assert loans.count() == read(world, "silver.loans").select("loan_id").distinct().count()


def test_every_gate_is_recorded_and_rendered(world):
    results = read(world, str(DQ_RESULTS))
    assert {r.table for r in results.select("table").distinct().collect()} == set(SILVER[:1] + [
        "silver.customers", "silver.loans"] + GOLD)
    assert results.where(~F.col("success")).count() == 0
    docs = world["report"].docs_path
    assert docs and docs.endswith("index.html")
    # rendered once, at the end of the run: both steps' gates are in it
    index = Path(docs).read_text(encoding="utf-8")
    assert all(table in index for table in ("silver.transactions", *GOLD)), index[:500]
    steps = {r.step: r for r in read(world, "ops.run_log")
             .where(F.col("run_id") == world["report"].run_id).collect()}
    assert steps["gate.silver.transactions"].outcome == "passed"
    assert steps["gate.gold.customer_summary"].duration_s > 0
    # batches this small are validated in the driver; each gate says where, and on how many rows
    gates = world["report"].gates
    assert {g.engine for g in gates} == {"pandas"}
    for gate in gates:
        step = steps[f"gate.{gate.table}"] if gate.table in GOLD else \
            steps[f"gate.silver.{gate.table.split('.')[1]}"]
        assert step.message.endswith(f"(pandas, {gate.rows:,} rows)"), step.message
    # a Gold table's step times its commit, and says how long computing its files took
    for table in GOLD:
        seconds = re.fullmatch(r"full build; files computed in ([0-9.]+) s",
                               steps[table].message)
        assert seconds and float(seconds.group(1)) > 0, steps[table].message


def test_a_run_that_fails_after_a_gate_still_renders_its_page(spark, tmp_path, monkeypatch):
    from lakehouse.pipeline import workflow

    generate(tmp_path / "landing", customers=8, months=1, seed=5, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})

    def broken(self):
        raise RuntimeError("Gold failed")

    monkeypatch.setattr(workflow.SilverToGold, "run", broken)
    with pytest.raises(RuntimeError, match="Gold failed"):
        run_workflow(settings, spark=spark)
    index = list((tmp_path / "lake").rglob("index.html"))
    assert len(index) == 1
    assert "silver.transactions" in index[0].read_text(encoding="utf-8")


def test_second_run_commits_nothing_anywhere(world, spark):
    before = {str(t): world["delta"].version(t) for t in world["lake"].list_tables()}
    report = run_workflow(world["settings"], spark=spark)
    assert report.nothing_new
    assert {str(t): world["delta"].version(t) for t in world["lake"].list_tables()} == before


def test_a_dirty_batch_is_blocked_then_replayed_once(world, spark):
    """Quarantine rate over the limit: exit 2, Silver and Gold unchanged, evidence written;
    with the limit raised, the next run publishes it from Bronze without loading it twice."""
    dirty = world["root"] / "landing" / "transactions" / "late" / "dirty.csv"
    dirty.parent.mkdir()
    header = ("trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,"
              "city,state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,"
              "merch_long,is_fraud")
    rows = [f"2024-03-0{1 + i % 5} 10:00:00,4111111111111111,Shop,travel,"
            f"{'-5.00' if i % 2 else '12.00'},A,B,F,S,Boston,MA,02108,42.3,-71.0,1000,"
            f"Nurse,1980-01-01,{i:032x},1709287200,42.0,-71.5,0" for i in range(40)]
    dirty.write_text(header + "\n" + "\n".join(rows) + "\n")
    # a copy landed beside it: recorded as a copy, it must not settle the held-back original
    copy = dirty.parent / "zz" / "dirty_copy.csv"  # listed after the original
    copy.parent.mkdir()
    copy.write_bytes(dirty.read_bytes())
    published = SILVER + GOLD
    before = versions(world, published)
    bronze_before = read(world, "bronze.transactions").count()
    quarantine_before = read(world, "silver.transactions_quarantine").count()

    report = run_workflow(world["settings"], spark=spark)
    assert report.blocked
    assert ": 2 new file(s), " in report.summary().splitlines()[0]
    assert {f.path.rsplit("/", 1)[-1]: f.outcome for f in report.files} == {
        "dirty.csv": "blocked", "dirty_copy.csv": "duplicate_file"}
    with pytest.raises(QualityGateError) as caught:
        report.raise_if_blocked()
    assert caught.value.exit_code == 2
    assert any("outcome" in line for line in caught.value.details)
    assert versions(world, published) == before, "Silver and Gold keep their versions"
    assert read(world, "silver.transactions_quarantine").count() == quarantine_before + 20
    manifest = read(world, "ops.ingested_files").where(F.col("path").endswith("dirty.csv"))
    assert [r.outcome for r in manifest.collect()] == ["blocked"]
    failed = read(world, str(DQ_RESULTS)).where(~F.col("success")).collect()
    assert [(r.table, r.column) for r in failed] == [("silver.transactions", "outcome")]
    assert failed[0].unexpected_percent == pytest.approx(50.0), "20 of 40 rows quarantined"

    # run again before the limit is raised: blocked again, from the same Bronze rows (the
    # file's rows are those of the run that appended it, not of this run, which records it
    # blocked too: the run after it once found no rows and settled the file as empty)
    report = run_workflow(world["settings"], spark=spark)
    assert report.blocked
    assert ": 0 new file(s), 1 replayed from Bronze, " in report.summary().splitlines()[0]
    assert read(world, "silver.transactions_quarantine").count() == quarantine_before + 20

    relaxed = load_settings(lake_root=world["settings"].lake_root,
                            landing_root=world["settings"].landing_root, environ={},
                            quality={"max_quarantine_rate": {"default": 0.6},
                                     "in_memory_rows": 0})
    report = run_workflow(relaxed, spark=spark)
    assert not report.blocked
    # with no batch small enough for the driver, every gate ran in Spark
    assert {g.engine for g in report.gates} == {"spark"} and len(report.gates) == 5
    assert ": 0 new file(s), 1 replayed from Bronze, " in report.summary().splitlines()[0]
    assert read(world, "bronze.transactions").count() == bronze_before + 40, "not loaded twice"
    assert read(world, "silver.transactions_quarantine").count() == quarantine_before + 20
    assert read(world, "silver.transactions").where(F.col("source_file").endswith("dirty.csv")
                                                   ).count() == 20
    after = versions(world, published)
    assert after["silver.transactions"] == before["silver.transactions"] + 1
    assert after["gold.customer_summary"] == before["gold.customer_summary"] + 1
    outcomes = [r.outcome for r in read(world, "ops.ingested_files")
                .where(F.col("path").endswith("dirty.csv")).orderBy("ingested_at").collect()]
    assert outcomes == ["blocked", "blocked", "loaded"]


def gold_rows(world):
    return {t: sorted(map(tuple, read(world, t).collect()), key=repr) for t in GOLD}


def builds(world):
    return {t: world["delta"].history(TableId.parse(t), 1)[0].metadata["lakehouse.build"]
            for t in GOLD}


def test_appended_transactions_update_gold_to_what_a_rebuild_gives(world, spark):
    """New transactions only: Gold is updated from the appended rows (not rebuilt), and a
    forced rebuild of the same Silver snapshot gives exactly the same tables."""
    generated = [f for f in (world["root"] / "landing" / "transactions").rglob("*.csv")
                 if "late" not in f.parts]  # not the files other tests landed
    source = sorted(generated)[-1]
    with source.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    trans_num, trans_ts = header.index("trans_num"), header.index("trans_date_trans_time")
    day = world["root"] / "landing" / "transactions" / "late" / "next_day.csv"
    day.parent.mkdir(exist_ok=True)
    # the last day's transactions again, as new ones on that day: they add to a month Gold has
    # rows of (its monthly spend's files of that month are rewritten), each at the time of an
    # earlier row of its card (where that is the customer's latest, the update settles the tie
    # by transaction id)
    assert rows[0][trans_ts].startswith("2024-02-29")
    with day.open("w", newline="") as handle:
        csv.writer(handle).writerows([header] + [
            [f"{i:032x}" if n == trans_num else v for n, v in enumerate(row)]
            for i, row in enumerate(rows[:12], start=7_000)])
    before = versions(world, GOLD)
    monthly_files = month_ranges(world)
    # files of whole months, whose ranges do not overlap (about a file per month: a range
    # partitioning from a sample may put a small month with its neighbour)
    ranges = sorted(monthly_files.values())
    assert len(ranges) > 1 and all(a[1] < b[0] for a, b in itertools.pairwise(ranges))

    with recorded_jobs(spark) as jobs:
        report = run_workflow(world["settings"], spark=spark)
    assert not report.blocked, report.summary()
    assert {v - before[t] for t, v in versions(world, GOLD).items()} == {1}
    assert set(builds(world).values()) == {"incremental"}
    named = steps_of(jobs, report.run_id)
    assert {"bronze.transactions", "silver.transactions", "silver.transactions_quarantine",
            "gold.build", "gate.gold.customer_summary", "gate.gold.customer_monthly_spend",
            "gold.customer_monthly_spend"} <= named
    # the day's batch, staged, is read for its gate from its files: no Spark job of its own
    assert "gate.silver.transactions" not in named
    assert [g.engine for g in report.gates if g.table == "silver.transactions"] == ["pandas"]
    # the quarantine's Python worker was started ahead of its write, while the parse ran
    assert [j.description for j in jobs].count(
        "silver.transactions_quarantine: start the redaction's Python worker") == 1
    updated = gold_rows(world)
    # the monthly spend's rows from the new day's month on are rewritten, and only the files
    # holding them: the earlier months' files are kept as they were
    after = month_ranges(world)
    start = date.fromisoformat(re.fullmatch(r"month >= '(.*)'", monthly_commit(world)[
        "lakehouse.replace_where"]).group(1))
    new_ids = [f"{i:032x}" for i in range(7_000, 7_012)]
    assert start == min(r.trans_date for r in read(world, "silver.transactions").where(
        F.col("trans_id").isin(new_ids)).collect()).replace(day=1)
    kept = {path for path, (_, last_month) in monthly_files.items() if last_month < start}
    assert kept and kept <= set(after)
    assert all(first >= start for path, (first, _) in after.items() if path not in kept)

    # each table's new files are the ones its gate read, committed as they are
    assert stray_files(world["lake"], GOLD) == []

    with recorded_jobs(spark) as jobs:
        rebuilt = silver_to_gold(world["settings"], spark=spark, full_refresh=True)
    assert set(builds(world).values()) == {"full"}
    assert {"gold.build", "gate.gold.customer_summary"} <= steps_of(jobs, rebuilt.run_id)
    assert gold_rows(world) == updated


def steps_of(jobs: list[Job], run_id: str) -> set[str]:
    """The run-log steps a run's Spark jobs were named after: every job of the run has one (its
    job group, ``<run id>:<step>``) and a description that starts with it, so that Spark's UI
    lists each job under the step it belongs to."""
    assert jobs, "the run started Spark jobs"
    unnamed = [j for j in jobs if not (j.group or "").startswith(f"{run_id}:")]
    assert unnamed == [], unnamed
    steps = {j.group.split(":", 1)[1] for j in jobs if j.group}
    assert all(j.description and j.description.startswith(j.group.split(":", 1)[1])
               for j in jobs if j.group), jobs
    # and each ran in its step's scheduler pool, those of the frames a step prepares in
    # threads of its own included (a step's jobs share the cores fairly with another's)
    assert [j for j in jobs if j.group and j.pool != j.group.split(":", 1)[1]] == []
    return steps


def month_ranges(world) -> dict[str, tuple]:
    """The data files of gold.customer_monthly_spend: each one's first and last month."""
    import pyarrow as pa
    from deltalake import DeltaTable

    uri = world["settings"].lake().uri(TableId("gold", "customer_monthly_spend"))
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pylist()
    return {a["path"]: (a["min.month"], a["max.month"]) for a in actions}


def monthly_commit(world) -> dict:
    """The commit metadata of gold.customer_monthly_spend's latest version."""
    return delta_io(None, world["settings"].lake()).history(
        TableId("gold", "customer_monthly_spend"), 1)[0].metadata


def test_a_failing_gold_gate_keeps_every_gold_table(world, spark, monkeypatch):
    extra = world["root"] / "landing" / "transactions" / "late" / "one_more.csv"
    source = sorted((world["root"] / "landing" / "transactions").rglob("*.csv"))[0]
    lines = source.read_text().splitlines()
    extra.write_text("\n".join([lines[0], lines[1].replace(lines[1].split(",")[-5],
                                                           "f" * 32)]) + "\n")
    def inflated(original):
        def build(*args, **kwargs):
            return original(*args, **kwargs).withColumn(
                "total_spend", (F.col("total_spend") + F.lit(Decimal("0.01")))
                .cast("decimal(18,2)"))
        return build

    # one new transaction: an incremental update, but a rebuild must be caught as well
    for name in ("customer_summary", "update_customer_summary"):
        monkeypatch.setattr(gold_build, name, inflated(getattr(gold_build, name)))
    before = versions(world, GOLD)
    report = run_workflow(world["settings"], spark=spark)
    assert report.blocked
    assert versions(world, GOLD) == before
    assert stray_files(world["lake"], GOLD) == [], "the files prepared for the tables are removed"
    assert versions(world, ["silver.transactions"])["silver.transactions"] is not None
    failures = {(f.table, f.expectation, f.column) for g in report.gates for f in g.failures}
    assert ("gold.customer_summary", "expect_column_values_to_be_in_set",
            "total_spend_matches_silver") in failures
