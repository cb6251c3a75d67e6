"""lakehouse vacuum / optimize on a lake the workflow built: what they remove and keep, and that
the runs after them still see Gold as up to date (a vacuum) or update it (a compaction of Gold)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from lakehouse import cli
from lakehouse.catalog.register import manifest_files, publish_snapshot, snapshot_versions
from lakehouse.catalog.store import LocalCatalog
from lakehouse.config import load_settings
from lakehouse.errors import LakehouseError, LakeLockedError
from lakehouse.io.delta import Target, delta_io, snapshot
from lakehouse.io.lake import TableId
from lakehouse.pii.columns import pan_hits
from lakehouse.pipeline.maintenance import redact_tables, restore_table, vacuum_tables
from lakehouse.pipeline.run import Reprocess, lake_lock
from lakehouse.pipeline.workflow import run_workflow
from tests.lakes import stray_files, workflow_world

pytestmark = pytest.mark.integration

GOLD = ["gold.customer_summary", "gold.customer_monthly_spend", "gold.fraud_daily",
        "gold.loan_default_features"]
SUMMARY = TableId("gold", "customer_summary")


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    return workflow_world(spark, tmp_path_factory.mktemp("maintenance"), customers=40,
                          months=2, seed=5, defect_rate=0.0)


def land_day(world, day: str, first_id: int) -> None:
    """The last generated day's transactions again, as new ones on ``day``."""
    source = sorted(f for f in (world["root"] / "landing" / "transactions").rglob("*.csv")
                    if "late" not in f.parts)[-1]
    with source.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    trans_num, trans_ts = header.index("trans_num"), header.index("trans_date_trans_time")
    target = world["root"] / "landing" / "transactions" / "late" / f"{day}.csv"
    target.parent.mkdir(exist_ok=True)
    with target.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        for i, row in enumerate(rows[:10], start=first_id):
            row[trans_num] = f"{i:032x}"
            row[trans_ts] = day + row[trans_ts][len(day):]
            out.writerow(row)


def versions(world) -> dict[str, int]:
    return {str(t): world["delta"].version(t) for t in world["lake"].list_tables()}


def builds(world) -> set[str]:
    return {world["delta"].history(TableId.parse(t), 1)[0].metadata.get("lakehouse.build", "")
            for t in GOLD}


def lakehouse(world, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([*args, "--lake", world["settings"].lake_root])
    out, err = capsys.readouterr()
    return code, out, err


def test_vacuum_keeps_published_snapshots_and_what_runs_need(world, spark, capsys):
    delta, lake = world["delta"], world["lake"]
    publish_snapshot(world["settings"], LocalCatalog(lake), SUMMARY, version=0)
    snapshot = LocalCatalog(lake).get(world["settings"].catalog.database("gold"),
                                      "customer_summary_v0")
    listed = manifest_files(lake, snapshot)
    rows_v0 = delta.read(SUMMARY, version=0).count()
    land_day(world, "2024-03-01", 9_000)
    assert not run_workflow(world["settings"], spark=spark).blocked
    assert builds(world) == {"incremental"}
    assert not set(listed) & set(delta.read(SUMMARY).inputFiles()), "v0's files replaced"
    # runs killed between writing a table's files and committing them left these (a Gold
    # table's prepared files, a merge's source in Silver)
    killed = [delta.prepare(delta.read(t).limit(5), "killed-run", f"x-{t.name}", Target(t))
              for t in (TableId("gold", "fraud_daily"), TableId("silver", "transactions"))]
    assert stray_files(world["lake"], GOLD)
    assert stray_files(world["lake"], ["silver.transactions"])
    assert snapshot_versions(lake, SUMMARY) == (0,)

    code, out, err = lakehouse(world, capsys, "vacuum", "--all", "--dry-run")
    assert code == 0 and out.startswith("would remove 0 data file(s)"), "all younger than 168 h"
    code, out, err = lakehouse(world, capsys, "vacuum", "--all", "--retain-hours", "0")
    assert code == 1 and "--force" in err and "168 h" in err
    before = versions(world)
    code, out, err = lakehouse(world, capsys, "vacuum", "--all", "--retain-hours", "0",
                               "--force")
    assert code == 0, err
    assert out.startswith("removed ") and " 0 data file(s)" not in out
    # the update replaced customer_summary's one file, which its published version 0 lists
    assert ("gold.customer_summary: nothing to remove (kept the files of version(s) 0, "
            "published as snapshots)") in err
    assert "gold.fraud_daily: removed " in err
    assert not any(Path(k.folder).exists() for k in killed), "gone, not just emptied"
    assert stray_files(world["lake"], [*GOLD, "silver.transactions"]) == []
    # the snapshot still reads: every file its manifest lists is there
    assert sum(pq.read_metadata(path).num_rows for path in listed) == rows_v0
    # a vacuum's two versions where it removed anything, none elsewhere
    after = versions(world)
    assert {after[t] - before[t] for t in before} == {0, 2}
    assert after["gold.fraud_daily"] == before["gold.fraud_daily"] + 2
    assert after["silver.transactions"] == before["silver.transactions"] + 2
    # a run with nothing new after a vacuum commits nothing: Gold is still up to date
    report = run_workflow(world["settings"], spark=spark)
    assert report.nothing_new
    assert versions(world) == after


def test_gold_compacted_is_still_updated_not_rebuilt(world, spark, capsys):
    code, out, err = lakehouse(world, capsys, "optimize", "gold.customer_monthly_spend",
                               "gold.fraud_daily")
    assert code == 0, err
    assert "gold.customer_monthly_spend: " in err and out.startswith("compacted ")
    world["before_day"] = world["delta"].version(TableId("silver", "transactions"))
    land_day(world, "2024-03-02", 9_100)
    report = run_workflow(world["settings"], spark=spark)
    assert not report.blocked, report.summary()
    assert builds(world) == {"incremental"}
    silver = world["delta"].read(TableId("silver", "transactions"))
    monthly = world["delta"].read(TableId("gold", "customer_monthly_spend"))
    assert monthly.agg(F.sum("txn_count")).first()[0] == silver.count()


def test_maintenance_waits_for_no_run_and_names_its_tables(world):
    with lake_lock(world["lake"]), pytest.raises(LakeLockedError, match="in use"):
        vacuum_tables(world["settings"], ["gold.fraud_daily"])
    with pytest.raises(LakehouseError, match="0 or more"):
        vacuum_tables(world["settings"], every=True, retain_hours=-1)
    with pytest.raises(LakehouseError, match="or give --all"):
        vacuum_tables(world["settings"])
    with pytest.raises(LakehouseError, match=r"no table gold\.nothing"):
        vacuum_tables(world["settings"], ["gold.nothing"])


def test_restore_takes_silver_back_and_reprocessing_brings_the_days_back(world, spark, capsys):
    silver = TableId("silver", "transactions")
    day = F.col("trans_date") == F.lit("2024-03-02").cast("date")
    rows = world["delta"].read(silver).count()
    of_day = world["delta"].read(silver).where(day).count()
    assert of_day
    code, out, err = lakehouse(world, capsys, "restore", "silver.transactions", "--version",
                               str(world["before_day"]))
    assert code == 0, err
    assert f"restored silver.transactions to version {world['before_day']}" in out
    assert "'lakehouse run --from 2024-03-02 --to 2024-03-02' brings them back" in out
    assert world["delta"].read(silver).where(day).count() == 0
    assert world["delta"].read(silver).count() == rows - of_day

    report = run_workflow(world["settings"], spark=spark, reprocess=Reprocess(
        date(2024, 3, 2), date(2024, 3, 2)))
    assert not report.blocked, report.summary()
    assert world["delta"].read(silver).count() == rows
    assert builds(world) == {"full"}, "Silver's files changed: Gold is rebuilt"
    monthly = world["delta"].read(TableId("gold", "customer_monthly_spend"))
    assert monthly.agg(F.sum("txn_count")).first()[0] == rows

    code, out, err = lakehouse(world, capsys, "restore", "bronze.transactions", "--version", "0")
    assert code == 1 and "append-only" in err
    code, out, err = lakehouse(world, capsys, "restore", "gold.fraud_daily", "--version", "0")
    assert code == 1 and "removed by a vacuum" in err, err  # by the first test
    previous = str(world["delta"].version(TableId("gold", "fraud_daily")) - 1)
    code, out, err = lakehouse(world, capsys, "restore", "gold.fraud_daily", "--version",
                               previous)
    assert code == 0 and "the next run rebuilds every Gold table" in out, err
    assert not run_workflow(world["settings"], spark=spark).blocked
    assert builds(world) == {"full"}


def test_restoring_one_half_of_an_scd2_entity_restores_the_other(spark, tmp_path):
    settings = load_settings(lake_root=str(tmp_path / "lake"), environ={})
    delta = delta_io(spark, settings.lake())
    current, history = TableId("silver", "customers"), TableId("silver", "customers_history")

    def write(table, value, run_id):
        delta.write(spark.createDataFrame([(value,)], "v string"), table, "overwrite",
                    run_id=run_id, step="silver")

    write(history, "h1", "r1")
    write(current, "c1", "r1")
    write(history, "h2", "r2")
    write(current, "c2", "r2")
    write(history, "h3", "r3")  # a run that changed only earlier versions of a customer
    restored = restore_table(settings, "silver.customers", version=0)
    assert restored.partner == (history, 0, 3), "the version run r1 wrote, restored with it"
    assert [r.v for r in delta.read(current).collect()] == ["c1"]
    assert [r.v for r in delta.read(history).collect()] == ["h1"]
    with pytest.raises(LakehouseError, match="at version 2 already: nothing to restore"):
        restore_table(settings, "silver.customers", version=2)
    write(history, "h6", "r6")
    write(current, "c6", "r6")
    write(current, "c7", "r7")  # a run that changed only current rows
    restored = restore_table(settings, "silver.customers", version=3)
    assert restored.partner is None, "history is at run r6's version already"
    assert [r.v for r in delta.read(current).collect()] == ["c6"]
    assert [r.v for r in delta.read(history).collect()] == ["h6"]
    # the first restore's version was written by no pipeline run: refused, nothing restored
    with pytest.raises(LakehouseError, match="cannot tell which version of silver"):
        restore_table(settings, "silver.customers", version=2)
    assert delta.version(current) == 5 and delta.version(history) == 4


# --- lakehouse redact: card numbers that an earlier release wrote outside Bronze -------------

QUARANTINE = TableId("silver", "transactions_quarantine")
QUARANTINE_SCHEMA = ("source string, natural_key string, reasons array<string>, raw string, "
                     "ingest_run_id string")
TEST_PAN = "4111111111111111"
TEST_AMEX = "378282246310005"


def leaky_lake(spark, delta, lake) -> None:
    """Bronze with a card number (where it belongs), a quarantine whose raw values hold two
    (one grouped, one unbroken, in two versions), and a clean Silver table."""
    grouped = " ".join(TEST_PAN[i:i + 4] for i in range(0, 16, 4))
    delta.write(spark.createDataFrame([("1", TEST_PAN)], "trans_num string, cc_num string"),
                TableId("bronze", "transactions"))
    delta.write(spark.createDataFrame([
        ("tx", "trans_num=1", ["duplicate_in_batch"], f'{{"job":"Nurse {grouped}"}}', "r1"),
        ("tx", "trans_num=2", ["invalid_amount"], '{"amt":"12,00"}', "r1"),
    ], QUARANTINE_SCHEMA), QUARANTINE)
    delta.write(spark.createDataFrame([
        ("tx", "trans_num=3", ["duplicate_in_batch"], f'{{"unix_time":"{TEST_AMEX}"}}', "r2"),
    ], QUARANTINE_SCHEMA), QUARANTINE)
    # a decimal whose fraction is a Luhn-valid run: no card number
    delta.write(spark.createDataFrame([("c1", '{"share": 4.878048780487805}')],
                                      "customer_id string, job string"),
                TableId("silver", "customers"))


def test_redact_masks_card_numbers_outside_bronze_in_a_new_version(spark, delta, lake, tmp_path,
                                                                   capsys):
    from tests.reliability.card_scan import scan_lake

    leaky_lake(spark, delta, lake)
    settings = load_settings(lake_root=str(tmp_path / "lake"))
    before = {t: delta.version(t) for t in lake.list_tables()}
    code = cli.main(["redact", "--all", "--dry-run", "--lake", str(tmp_path / "lake")])
    out = "".join(capsys.readouterr())  # the summary, and each table's line (progress)
    assert code == 0
    assert "2 row(s) of 1 of 2 table(s) hold a card number" in out
    assert "silver.transactions_quarantine: 2 row(s) hold a card number, in raw (2)" in out
    assert {t: delta.version(t) for t in lake.list_tables()} == before  # a dry run writes none

    [customers, quarantine] = sorted(redact_tables(settings, every=True, delta=delta),
                                     key=lambda r: str(r.table))
    assert (customers.rows, customers.version) == (0, None)
    assert (quarantine.rows, quarantine.columns, quarantine.version) == (2, {"raw": 2}, 2)
    assert "versions up to 1 may still hold them" in quarantine.describe()
    now = delta.read(QUARANTINE)
    assert pan_hits(now) == {}
    assert sorted(now.columns) == sorted(delta.read(QUARANTINE, version=1).columns)
    raw = {r["natural_key"]: r["raw"] for r in now.collect()}
    assert raw["trans_num=1"] == '{"job":"Nurse **** **** **** 1111"}'
    assert raw["trans_num=2"] == '{"amt":"12,00"}'  # no card number: as it was
    assert raw["trans_num=3"] == '{"unix_time":"***********0005"}'
    assert delta.version(TableId("bronze", "transactions")) == 0  # Bronze is left alone
    assert pan_hits(delta.read(TableId("bronze", "transactions"))) == {"cc_num": 1}
    # the earlier versions still hold them: time travel reads them, the scan finds their files
    assert pan_hits(delta.read(QUARANTINE, version=1)) == {"raw": 2}
    findings, _ = scan_lake(tmp_path / "lake")
    assert findings and all("transactions_quarantine" in f.where for f in findings)
    # a second run finds nothing more to do
    again = redact_tables(settings, [str(QUARANTINE)], delta=delta)
    assert [(r.rows, r.version) for r in again] == [(0, None)]
    assert delta.version(QUARANTINE) == 2
    # --purge-history then removes the versions before the masking, data and log (whose file
    # statistics held a number); a table never masked keeps its history
    customers_history = delta.history(TableId("silver", "customers"))
    [_, purged] = sorted(redact_tables(settings, every=True, purge_history=True, delta=delta),
                         key=lambda r: str(r.table))
    assert (purged.rows, purged.log_files) == (0, 4)  # 0-1 written, 2 masked, 3 vacuum start
    assert purged.purged is not None and purged.purged.data_files == 2
    assert scan_lake(tmp_path / "lake") == ([], scan_lake(tmp_path / "lake")[1])
    assert delta.history(TableId("silver", "customers")) == customers_history
    assert pan_hits(delta.read(QUARANTINE)) == {} and delta.read(QUARANTINE).count() == 3


def test_redact_purges_the_versions_that_held_them_except_published_snapshots(
        spark, delta, lake, tmp_path, capsys):
    from tests.reliability.card_scan import scan_lake

    leaky_lake(spark, delta, lake)
    settings = load_settings(lake_root=str(tmp_path / "lake"))
    publish_snapshot(settings, LocalCatalog(lake), QUARANTINE, version=0)
    kept = set(manifest_files(lake, LocalCatalog(lake).get(
        settings.catalog.database("silver"), "transactions_quarantine_v0")))
    code = cli.main(["redact", str(QUARANTINE), "--purge-history",
                     "--lake", str(tmp_path / "lake")])
    out = "".join(capsys.readouterr())
    assert code == 0, out
    assert "masked the card numbers of 2 row(s) in 1 of 1 table(s)" in out
    assert "version(s) 0, published as snapshots, keep theirs" in out
    with pytest.raises(LakehouseError, match="version 1 can no longer be read: its log starts"):
        snapshot(lake, QUARANTINE, version=1)
    assert [e.version for e in delta.history(QUARANTINE)] == [delta.version(QUARANTINE)]
    findings, scanned = scan_lake(tmp_path / "lake")
    assert scanned and findings
    assert {f.where.split(" ")[0] for f in findings} <= {
        str(Path(p).relative_to(tmp_path / "lake")) for p in kept}  # the snapshot's files only
    findings, _ = scan_lake(tmp_path / "lake", skip=())
    assert any(f.where.startswith("bronze") for f in findings)  # Bronze kept its rows


def test_redact_refuses_bronze_and_card_numbers_it_cannot_mask(spark, delta, lake, tmp_path):
    leaky_lake(spark, delta, lake)
    settings = load_settings(lake_root=str(tmp_path / "lake"))
    with pytest.raises(LakehouseError, match="Bronze keeps the landed rows"):
        redact_tables(settings, ["bronze.transactions"], delta=delta)
    with pytest.raises(LakehouseError, match="cannot be a --dry-run"):
        redact_tables(settings, every=True, dry_run=True, purge_history=True, delta=delta)
    # a number column holding one cannot be masked in place: nothing is rewritten anywhere
    delta.write(spark.createDataFrame([("c1", int(TEST_PAN))], "customer_id string, ref long"),
                TableId("gold", "customer_summary"))
    before = {t: delta.version(t) for t in lake.list_tables()}
    with pytest.raises(LakehouseError, match=r"gold\.customer_summary\.ref, which are not text"):
        redact_tables(settings, every=True, delta=delta)
    assert {t: delta.version(t) for t in lake.list_tables()} == before
