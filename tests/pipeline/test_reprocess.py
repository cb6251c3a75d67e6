"""lakehouse run --from/--to: the landing files of those days again, from Bronze, with today's
reference data: rows a fixed reference list lets through reach Silver once, their quarantine
rows go, nothing is loaded twice, and a later correction is not undone. The tests of Silver
alone run Bronze -> Silver only (Gold follows Silver in the next whole run; the first test checks
that it does)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse import cli
from lakehouse.config import load_settings
from lakehouse.errors import LakehouseError
from lakehouse.generate.defects import UNKNOWN_CATEGORIES
from lakehouse.io.lake import TableId
from lakehouse.io.landing import landing_date
from lakehouse.pipeline.bronze_to_silver import bronze_to_silver
from lakehouse.pipeline.run import Reprocess
from lakehouse.pipeline.workflow import run_workflow
from tests.lakes import workflow_world

pytestmark = pytest.mark.integration

CONF = Path(__file__).resolve().parents[2] / "conf"
SILVER = TableId("silver", "transactions")
QUARANTINE = TableId("silver", "transactions_quarantine")


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    world = workflow_world(spark, tmp_path_factory.mktemp("reprocess"), customers=120,
                           months=1, seed=3, defect_rate=0.05)
    # the reference list as fixed later: the categories the files had and it lacked
    conf = world["root"] / "conf"
    shutil.copytree(CONF, conf)
    with (conf / "reference" / "merchant_categories.csv").open("a") as handle:
        handle.writelines(f"{name},{name}\n" for name in UNKNOWN_CATEGORIES)
    world["fixed"] = load_settings(conf, lake_root=world["settings"].lake_root,
                                   landing_root=world["settings"].landing_root, environ={})
    return world


def table(world, name: TableId):
    return world["delta"].read(name)


def unknown_category_rows(world):
    """Quarantined for their category alone: (source file, transaction id)."""
    return sorted((r.source_file, r.natural_key.removeprefix("trans_id="))
                  for r in table(world, QUARANTINE)
                  .where(F.col("reasons") == F.array(F.lit("unknown_category"))).collect())


def test_a_fixed_reference_list_brings_the_days_rows_into_silver_once(world, spark):
    quarantined = unknown_category_rows(world)
    assert quarantined, "the sample has rows of unknown categories"
    # the first half of the month: a day alone may hold too few rows for the quarantine-rate
    # gate, as a batch of its own
    day_file = quarantined[0][0]
    first = landing_date(day_file)
    assert first is not None
    days = Reprocess(first, first + timedelta(days=14))
    of_day = {t for f, t in quarantined if days.covers(f)}
    elsewhere = [(f, t) for f, t in quarantined if not days.covers(f)]
    assert elsewhere, "rows outside the range stay quarantined"
    silver_before = table(world, SILVER).count()
    bronze_before = table(world, TableId("bronze", "transactions")).count()
    other_quarantine = table(world, QUARANTINE).where(
        (F.col("source_file") == day_file)
        & (F.col("reasons") != F.array(F.lit("unknown_category")))).count()

    report = run_workflow(world["fixed"], spark=spark, reprocess=days)
    assert not report.blocked, report.summary()
    assert report.reprocessed_files >= 1 and report.replayed_files == 0
    assert "reprocessed from Bronze" in report.summary().splitlines()[0]
    silver = table(world, SILVER)
    assert silver.count() == silver_before + len(of_day)
    assert silver.where(F.col("trans_id").isin(*of_day)).count() == len(of_day)
    assert unknown_category_rows(world) == elsewhere, "the day's rows left the quarantine"
    assert table(world, QUARANTINE).where(F.col("source_file") == day_file).count() == \
        other_quarantine, "the day's other quarantine rows were replaced, not doubled"
    assert table(world, TableId("bronze", "transactions")).count() == bronze_before
    record = [r for r in report.files if r.path == day_file]
    assert len(record) == 1 and record[0].note == "reprocessed (--from/--to)"
    file_rows = table(world, TableId("bronze", "transactions")).where(
        F.col("source_file") == day_file).count()
    assert record[0].rows_in == file_rows == (record[0].rows_written
                                              + record[0].rows_quarantined
                                              + record[0].rows_duplicate)
    summary = table(world, TableId("gold", "customer_summary"))
    assert summary.agg(F.sum("txn_count")).first()[0] == silver.count()

    # again: nothing changes
    rows = sorted(map(tuple, silver.select("trans_id", "amount").collect()))
    assert not run_workflow(world["fixed"], spark=spark,
                            reprocess=days).blocked
    assert sorted(map(tuple, table(world, SILVER).select("trans_id", "amount").collect())) \
        == rows
    assert unknown_category_rows(world) == elsewhere
    world["days"], world["day_file"] = days, day_file


def test_reprocessing_does_not_undo_a_later_correction(world, spark):
    days, day_file = world["days"], world["day_file"]
    source = Path(world["settings"].landing_root) / day_file
    with source.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    amount, trans_num = header.index("amt"), header.index("trans_num")
    published = {r.trans_id for r in table(world, SILVER).where(
        F.col("source_file") == day_file).collect()}
    first = next(row for row in rows if row[trans_num] in published)
    corrected = list(first)
    corrected[amount] = "1234.56"
    late = Path(world["settings"].landing_root) / "transactions" / "late" / "correction.csv"
    late.parent.mkdir(exist_ok=True)
    with late.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, corrected])
    report = bronze_to_silver(world["fixed"], spark=spark)
    assert not report.blocked, report.summary()

    def amount_now():
        return [r.amount for r in table(world, SILVER).where(
            F.col("trans_id") == first[trans_num]).collect()]

    assert [str(a) for a in amount_now()] == ["1234.56"]
    assert not bronze_to_silver(world["fixed"], spark=spark, reprocess=days).blocked
    assert [str(a) for a in amount_now()] == ["1234.56"], "the earlier file does not win"


def test_a_range_is_checked_and_excludes_a_full_refresh(world, capsys):
    with pytest.raises(LakehouseError, match="is after"):
        Reprocess(date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(LakehouseError, match="--from, --to"):
        Reprocess()
    assert Reprocess(last=date(2024, 1, 5)).covers("t/2024/01/x_2024-01-05.csv")
    assert not Reprocess(first=date(2024, 1, 6)).covers("t/2024/01/x_2024-01-05.csv")
    assert not Reprocess(first=date(2024, 1, 1)).covers("t/late/correction.csv")
    code = cli.main(["run", "--full-refresh", "--from", "2024-01-01",
                     "--lake", world["settings"].lake_root,
                     "--landing", world["settings"].landing_root])
    assert code == 1
    assert "takes no --from/--to" in capsys.readouterr().err


def test_rows_that_fail_a_rule_now_leave_silver_for_the_quarantine(world, spark):
    """A stricter reference list: the range's published rows of a dropped category are
    withdrawn from Silver (those of other days stay) and quarantined, and Gold follows."""
    days = world["days"]
    silver = table(world, SILVER)
    in_range = silver.where(F.col("source_file").isin(*{
        r.source_file for r in silver.select("source_file").distinct().collect()
        if days.covers(r.source_file)}))
    outside = {r.category for r in silver.join(in_range, "trans_id", "left_anti")
               .select("category").distinct().collect()}
    dropped = next(r.category for r in in_range.groupBy("category").count()
                   .orderBy("count", "category").collect() if r.category in outside)
    withdrawn = {r.trans_id for r in in_range.where(F.col("category") == dropped).collect()}
    kept_elsewhere = silver.where((F.col("category") == dropped)
                                  & ~F.col("trans_id").isin(*withdrawn)).count()
    assert withdrawn and kept_elsewhere
    before = silver.count()
    conf = world["root"] / "strict"
    shutil.copytree(world["fixed"].conf_dir, conf)
    categories = conf / "reference" / "merchant_categories.csv"
    categories.write_text("".join(line for line in categories.read_text().splitlines(True)
                                  if not line.startswith(f"{dropped},")))
    strict = load_settings(conf, lake_root=world["settings"].lake_root,
                           landing_root=world["settings"].landing_root, environ={},
                           quality={"max_quarantine_rate": {"default": 0.6}})

    report = run_workflow(strict, spark=spark, reprocess=days)
    assert not report.blocked, report.summary()
    silver = table(world, SILVER)
    assert silver.count() == before - len(withdrawn)
    assert silver.where(F.col("trans_id").isin(*withdrawn)).count() == 0
    assert silver.where(F.col("category") == dropped).count() == kept_elsewhere
    quarantined = {r.natural_key.removeprefix("trans_id=") for r in table(world, QUARANTINE)
                   .where(F.array_contains("reasons", "unknown_category")).collect()}
    assert withdrawn <= quarantined
    step = next(s for s in report.steps if s.step == "silver.transactions")
    assert step.message == f"withdrew {len(withdrawn)} row(s) of reprocessed files that fail " \
        "a rule now"
    summary = table(world, TableId("gold", "customer_summary"))
    assert summary.agg(F.sum("txn_count")).first()[0] == silver.count()


def test_after_a_full_refresh_a_reprocess_reads_the_rows_the_refresh_loaded(world, spark):
    """A full refresh writes Bronze anew: the loads before it hold no rows any more. A day
    reprocessed after it is read from the refresh's load (it was read from the first load's
    run, whose rows are gone, and its files were recorded as empty)."""
    refreshed = bronze_to_silver(world["fixed"], spark=spark, full_refresh=True)
    assert not refreshed.blocked, refreshed.summary()
    silver_before = table(world, SILVER).count()
    day = min(d for f in refreshed.files if f.source == "transactions"
              and (d := landing_date(f.path)) is not None)

    report = bronze_to_silver(world["fixed"], spark=spark, reprocess=Reprocess(day, day))
    again = [f for f in report.files if f.note == "reprocessed (--from/--to)"
             and f.source == "transactions"]
    assert again, report.summary()
    assert all(f.outcome == "loaded" and f.rows_in > 0 for f in again), again
    loaded = {f.path: f.rows_in for f in refreshed.files}
    assert all(f.rows_in == loaded[f.path] for f in again), "every row of the day, once"
    assert table(world, SILVER).count() == silver_before


def test_reprocessing_does_not_undo_a_later_correction_of_a_customer_version(world, spark):
    """silver.customers_history (SCD2): a version corrected by a later file keeps the
    correction when the earlier file is reprocessed, and silver.customers agrees with it."""
    history = TableId("silver", "customers_history")
    source = sorted((Path(world["settings"].landing_root) / "customers").rglob("*.jsonl"))[0]
    record = json.loads(source.read_text().splitlines()[0])
    corrected = {**record, "annual_income": 123456.78}
    late = Path(world["settings"].landing_root) / "customers" / "late" / "correction.jsonl"
    late.parent.mkdir(exist_ok=True)
    late.write_text(json.dumps(corrected) + "\n")
    assert not bronze_to_silver(world["fixed"], spark=spark).blocked

    def incomes():
        version = table(world, history).where(
            (F.col("customer_id") == record["customer_id"])
            & (F.col("valid_from") == F.to_timestamp(F.lit(record["updated_at"]))))
        current = version.where("is_current").select("annual_income")
        now = table(world, TableId("silver", "customers")).where(
            F.col("customer_id") == record["customer_id"]).select("annual_income")
        return ([str(r.annual_income) for r in version.collect()],
                current.count() == 0 or current.collect() == now.collect())

    assert incomes() == (["123456.78"], True)
    day = landing_date(str(source.relative_to(world["settings"].landing_root)))
    assert not bronze_to_silver(world["fixed"], spark=spark, reprocess=Reprocess(day, day)).blocked
    assert incomes() == (["123456.78"], True), "the earlier file does not win"


def test_a_newer_version_brought_in_by_a_reprocess_becomes_current(world, spark):
    """silver.customers mirrors the history's current version, whatever the landing order: a
    version quarantined in an older file (gender 'U', not accepted then) and let through by a
    reprocess is newer than the one a later file published, and becomes current (the current
    table's merge refused it as landed earlier, leaving it behind its own history)."""
    landing = Path(world["settings"].landing_root) / "customers" / "extra"
    landing.mkdir()
    base = {"customer_id": "C999999", "cc_num": None, "first": "A", "last": "B",
            "dob": "1980-01-01", "street": "1 Main St", "city": "Boston", "state": "MA",
            "zip": "02108", "job": "Nurse", "email": "a@example.com", "annual_income": 1000,
            "credit_score": 700}
    (landing / "customers_2030-01-01.jsonl").write_text(json.dumps(
        {**base, "gender": "U", "updated_at": "2030-01-01T00:00:00Z"}) + "\n")
    lenient = {"max_quarantine_rate": {"default": 1.0}}

    def settings(conf: Path):
        return load_settings(conf, lake_root=world["settings"].lake_root,
                             landing_root=world["settings"].landing_root, environ={},
                             quality=lenient)

    assert not bronze_to_silver(settings(world["fixed"].conf_dir), spark=spark).blocked
    (landing / "update.jsonl").write_text(json.dumps(
        {**base, "gender": "F", "updated_at": "2029-06-01T00:00:00Z"}) + "\n")
    assert not bronze_to_silver(settings(world["fixed"].conf_dir), spark=spark).blocked
    conf = world["root"] / "gender_u"
    shutil.copytree(world["fixed"].conf_dir, conf)
    rules = conf / "sources" / "customers.yaml"
    rules.write_text(rules.read_text().replace("accepted: [F, M, X]", "accepted: [F, M, X, U]"))

    report = bronze_to_silver(settings(conf), spark=spark,
                          reprocess=Reprocess(date(2030, 1, 1), date(2030, 1, 1)))
    assert not report.blocked, report.summary()
    history = table(world, TableId("silver", "customers_history")).where(
        F.col("customer_id") == "C999999")
    assert sorted((r.gender, r.is_current) for r in history.collect()) == [
        ("F", False), ("U", True)]
    current = table(world, TableId("silver", "customers")).where(
        F.col("customer_id") == "C999999")
    assert [r.gender for r in current.collect()] == ["U"]
