"""End to end: generated landing files with defects -> Bronze -> Silver, in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.io.delta import DeltaRsIO, delta_io, snapshot
from lakehouse.io.lake import Lake, TableId
from lakehouse.ops.tables import INGESTED_FILES, RUN_LOG
from lakehouse.pii.columns import pan_hits
from lakehouse.pipeline import bronze_to_silver as b2s
from lakehouse.pipeline.bronze_to_silver import BronzeToSilver, bronze_to_silver
from lakehouse.pipeline.workload import Workload, estimate
from lakehouse.quality.gates import QualityGates
from tests.lakes import stray_files
from tests.pipeline.test_workload import landing_data_bytes

pytestmark = pytest.mark.integration

SILVER = ["silver.transactions", "silver.customers", "silver.customers_history", "silver.loans",
          "silver.transactions_quarantine", "silver.customers_quarantine",
          "silver.loans_quarantine"]
OPS = ["ops.ingested_files", "ops.run_log"]
LINEAGE_OF_RUN = ("source_file", "ingest_run_id", "ingested_at")


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """One generated landing area and one first run, shared by the tests below (in order)."""
    root = tmp_path_factory.mktemp("e2e")
    summary = generate(root / "landing", customers=120, months=2, seed=7, defect_rate=0.04)
    settings = load_settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"))
    report = bronze_to_silver(settings, spark=spark)
    lake = Lake.at(settings.lake_root)
    return {"root": root, "summary": summary, "settings": settings, "report": report,
            "lake": lake, "delta": delta_io(spark, lake)}


def versions(world) -> dict[str, int | None]:
    return {str(t): world["delta"].version(t) for t in world["lake"].list_tables()}


def content(world, table: str, ordered: bool = True):
    """A table's rows without the columns that name the run (for comparing runs)."""
    df = world["delta"].read(TableId.parse(table))
    keep = [c for c in df.columns if c not in LINEAGE_OF_RUN]
    rows = [tuple(r) for r in df.select(*keep).collect()]
    return sorted(rows) if ordered else rows


def test_every_table_is_a_delta_table(world):
    tables = {str(t) for t in world["lake"].list_tables()}
    expected = set(SILVER + OPS + ["bronze.transactions", "bronze.customers", "bronze.loans"])
    assert expected <= tables
    for name in expected:
        table = TableId.parse(name)
        log = Path(world["lake"].uri(table)) / "_delta_log" / "00000000000000000000.json"
        assert log.exists(), name
        actions = [json.loads(line) for line in log.read_text().splitlines()]
        protocol = next(a["protocol"] for a in actions if "protocol" in a)
        assert protocol["minReaderVersion"] <= 3, name


def test_bronze_keeps_every_landed_row(world):
    delta, summary = world["delta"], world["summary"]
    for source in ("transactions", "customers", "loans"):
        assert delta.read(TableId("bronze", source)).count() == summary.rows[source], source


def test_rows_in_equal_written_plus_quarantined_plus_duplicates_for_every_file(world, spark):
    files = world["delta"].read(INGESTED_FILES).collect()
    assert len(files) == sum(world["summary"].files.values())
    for f in files:
        assert f.rows_in == f.rows_written + f.rows_quarantined + f.rows_duplicate, f.path
    bronze_rows = {s: world["delta"].read(TableId("bronze", s)).count()
                   for s in ("transactions", "customers", "loans")}
    for source, count in bronze_rows.items():
        assert sum(f.rows_in for f in files if f.source == source) == count


def test_quarantine_and_duplicates_match_the_injected_defects(world):
    """Every injected defect is caught, and nothing else: no clean row is quarantined."""
    defects = world["summary"].defects["transactions"]
    single_row = sum(n for kind, n in defects.items()
                     if kind not in ("exact_duplicate", "conflicting_duplicate"))
    # both versions of a conflicting key are quarantined: nothing says which is right
    expected_quarantined = single_row + 2 * defects["conflicting_duplicate"]
    files = [f for f in world["delta"].read(INGESTED_FILES).collect()
             if f.source == "transactions"]
    assert sum(f.rows_quarantined for f in files) == expected_quarantined
    assert sum(f.rows_duplicate for f in files) == defects["exact_duplicate"]
    quarantine = world["delta"].read(TableId("silver", "transactions_quarantine"))
    assert quarantine.count() == expected_quarantined
    reasons = {r.reason for r in quarantine.select(F.explode("reasons").alias("reason"))
               .distinct().collect()}
    assert {"invalid_card_number", "bad_timestamp", "amount_out_of_range", "missing_key",
            "unknown_category", "bad_coordinates", "bad_number", "malformed_row",
            "duplicate_in_batch"} <= reasons
    for source in ("customers", "loans"):
        injected = sum(n for k, n in world["summary"].defects[source].items()
                       if k != "exact_duplicate")
        table = TableId("silver", f"{source}_quarantine")
        assert world["delta"].read(table).count() == injected, source


def test_silver_is_typed_unique_and_tokenized(world):
    delta = world["delta"]
    tx = delta.read(TableId("silver", "transactions"))
    types = dict(tx.dtypes)
    assert types["amount"] == "decimal(12,2)"
    assert types["trans_ts"] == "timestamp"
    assert types["is_fraud"] == "boolean"
    assert "cc_num" not in types and "card_number" not in types
    assert not {"first", "last", "street", "dob"} & set(types)
    assert tx.count() == tx.select("trans_id").distinct().count()
    assert tx.where(F.col("card_token").isNull() | ~F.col("card_token").rlike("^[0-9a-f]{64}$")
                    ).count() == 0
    assert tx.where(~F.col("card_masked").rlike(r"^\*+[0-9]{4}$")).count() == 0
    customers = delta.read(TableId("silver", "customers"))
    assert customers.count() == customers.select("customer_id").distinct().count()
    history = delta.read(TableId("silver", "customers_history"))
    current = history.where("is_current")
    assert current.count() == customers.count()
    assert history.where("is_current AND valid_to IS NOT NULL").count() == 0
    assert history.where("NOT is_current AND valid_to IS NULL").count() == 0
    assert history.count() > customers.count(), "monthly updates give customers new versions"


def test_no_card_number_outside_bronze(world):
    delta = world["delta"]
    for name in SILVER + OPS:
        assert pan_hits(delta.read(TableId.parse(name))) == {}, name
    # the scan is real: Bronze, which keeps the raw files, is full of card numbers
    assert pan_hits(delta.read(TableId("bronze", "transactions"))).get("cc_num", 0) > 1000


def test_run_log_records_each_step(world):
    log = world["delta"].read(RUN_LOG).collect()
    steps = {r.step for r in log}
    assert {"bronze.transactions", "silver.transactions", "silver.customers",
            "silver.customers_history", "silver.loans"} <= steps
    tx = next(r for r in log if r.step == "silver.transactions")
    assert tx.rows_in == tx.rows_written + tx.rows_quarantined + tx.rows_duplicate
    assert tx.rows_inserted == tx.rows_written
    assert all(r.duration_s >= 0 and r.run_id == world["report"].run_id for r in log)


def test_second_run_commits_nothing(world, spark):
    before = versions(world)
    report = bronze_to_silver(world["settings"], spark=spark)
    assert report.nothing_new
    assert versions(world) == before


def test_the_workload_estimate_counts_what_no_run_settled(world):
    settings = world["settings"]
    silver = snapshot(world["lake"], TableId("silver", "transactions"))
    on_disk = sum(os.path.getsize(f.removeprefix("file://")) for f in silver.files)
    assert on_disk > 0
    assert estimate(settings) == Workload(0, on_disk)  # every landing file settled
    assert estimate(settings, gold=False) == Workload(0, 0)
    landing = sum(landing_data_bytes(p) for p in (world["root"] / "landing").rglob("*")
                  if p.is_file())
    assert estimate(settings, full_refresh=True) == Workload(landing, on_disk)


def test_replayed_file_changes_nothing(world, spark):
    landing = world["root"] / "landing" / "transactions"
    original = sorted(landing.rglob("*.csv"))[3]
    shutil.copy(original, landing / "replayed_copy.csv")
    # the copy is read again (to learn it holds known content): the next run's workload
    assert estimate(world["settings"]).landing_bytes == original.stat().st_size
    silver_before = content(world, "silver.transactions")
    before = versions(world)
    report = bronze_to_silver(world["settings"], spark=spark)
    after = versions(world)
    assert [f.outcome for f in report.files] == ["duplicate_file"]
    changed = {t for t in after if after[t] != before.get(t)}
    assert changed == {"ops.ingested_files"}
    assert content(world, "silver.transactions") == silver_before


def test_corrected_file_merges_on_the_key(world, spark):
    """A re-sent file with one corrected amount updates that row and inserts nothing."""
    landing = world["root"] / "landing" / "transactions"
    source = sorted(landing.rglob("*.csv"))[5]
    lines = source.read_text().splitlines()
    header = lines[0].split(",")
    amt = header.index("amt")
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    target = next(i for i, r in enumerate(rows[1:], 1) if len(r) == len(header)
                  and r[amt].replace(".", "").isdigit() and float(r[amt]) > 1)
    trans_id = rows[target][header.index("trans_num")]
    rows[target][amt] = f"{float(rows[target][amt]) + 1:.2f}"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (landing / "correction.csv").write_text(buffer.getvalue())
    report = bronze_to_silver(world["settings"], spark=spark)
    step = next(s for s in report.steps if s.step == "silver.transactions")
    assert (step.rows_inserted, step.rows_updated) == (0, 1)
    row = (world["delta"].read(TableId("silver", "transactions"))
           .where(F.col("trans_id") == trans_id).first())
    assert f"{row.amount:.2f}" == rows[target][amt]


def test_a_file_of_new_keys_is_appended_as_one_silver_file(world, spark, monkeypatch):
    """A day's small batch of new transactions adds one file to Silver and rewrites none
    (not one small file per shuffle partition); of Bronze, only the file its append added is
    read."""
    import csv
    import io

    from deltalake import DeltaTable

    landing = world["root"] / "landing" / "transactions"
    rows = list(csv.reader(io.StringIO(sorted(landing.rglob("*.csv"))[7].read_text())))
    key = rows[0].index("trans_num")
    for row in rows[1:]:
        if len(row) == len(rows[0]) and row[key].strip():
            row[key] = "new" + row[key]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (landing / "new_keys.csv").write_text(buffer.getvalue())
    table = world["delta"].uri(TableId("silver", "transactions"))
    before = set(DeltaTable(table).file_uris())
    bronze = world["delta"].uri(TableId("bronze", "transactions"))
    bronze_before = {Path(u).name for u in DeltaTable(bronze).file_uris()}
    assert len(bronze_before) >= 2
    read: list[set[str]] = []
    bronze_rows = BronzeToSilver._bronze_rows

    def spy(self, *args):
        rows = bronze_rows(self, *args)
        read.append({Path(f).name for f in rows.inputFiles()})
        return rows

    monkeypatch.setattr(BronzeToSilver, "_bronze_rows", spy)
    # parsed from Bronze once written, as a batch larger than a partition is (a day's is parsed
    # from the landing rows alongside: the next test)
    monkeypatch.setattr(b2s, "_ALONGSIDE_BYTES", 0)
    # files read in at least as many partitions as a 4-core machine makes (tests run with one)
    spark.conf.set("spark.sql.files.minPartitionNum", "4")
    try:
        report = bronze_to_silver(world["settings"], spark=spark)
    finally:
        spark.conf.unset("spark.sql.files.minPartitionNum")
    ops_files = DeltaTable(world["delta"].uri(RUN_LOG)).get_add_actions(flatten=True)
    assert ops_files.num_rows == len(DeltaTable(world["delta"].uri(RUN_LOG)).history()), \
        "one ops.run_log file per commit"
    step = next(s for s in report.steps if s.step == "silver.transactions")
    assert step.rows_inserted > 0 and step.rows_updated == 0
    after = set(DeltaTable(table).file_uris())
    assert before <= after and len(after - before) == 1
    added = {Path(u).name for u in DeltaTable(bronze).file_uris()} - bronze_before
    assert len(added) == 1 and read == [added]


def test_a_small_batch_parsed_alongside_its_bronze_append_equals_one_parsed_from_bronze(
        spark, tmp_path, monkeypatch):
    """A batch of one partition's worth of new files is parsed from the rows read for Bronze
    while Bronze writes them; a larger one from Bronze once written. Both give the same
    Bronze, Silver and quarantine rows, and the same counts per file."""
    generate(tmp_path / "landing", customers=40, months=1, seed=7, defect_rate=0.02)
    lakes = {}
    parsed_from: list[str] = []
    bronze_rows = BronzeToSilver._bronze_rows

    def spy(self, table, *args):
        parsed_from.append(str(table))
        return bronze_rows(self, table, *args)

    monkeypatch.setattr(BronzeToSilver, "_bronze_rows", spy)
    for label, alongside in (("together", True), ("after", False)):
        if not alongside:
            monkeypatch.setattr(b2s, "_ALONGSIDE_BYTES", 0)
        parsed_from.clear()
        settings = load_settings(lake_root=str(tmp_path / label),
                                 landing_root=str(tmp_path / "landing"))
        report = bronze_to_silver(settings, spark=spark)
        assert not report.blocked
        assert sorted(parsed_from) == ([] if alongside else
                                       ["bronze.customers", "bronze.loans",
                                        "bronze.transactions"])
        steps = {s.step for s in report.steps}
        assert {"bronze.transactions", "gate.silver.transactions",
                "silver.transactions"} <= steps
        lake = Lake.at(settings.lake_root)
        lakes[label] = {"lake": lake, "delta": delta_io(spark, lake)}
        files = {(f.path, f.rows_in, f.rows_written, f.rows_quarantined, f.rows_duplicate)
                 for f in lakes[label]["delta"].read(INGESTED_FILES).collect()}
        lakes[label]["files"] = files
    assert lakes["together"]["files"] == lakes["after"]["files"]
    for table in [*SILVER, "bronze.transactions", "bronze.customers", "bronze.loans"]:
        together, after = (sorted(content(lakes[k], table, ordered=False), key=repr)
                           for k in ("together", "after"))
        assert together == after and (together or "quarantine" in table), table


def test_full_refresh_rebuilds_the_same_silver(world, spark):
    before = {t: content(world, t) for t in SILVER}
    report = bronze_to_silver(world["settings"], spark=spark, full_refresh=True)
    assert len(report.files) == sum(1 for p in (world["root"] / "landing").rglob("*")
                                    if p.is_file())
    for table in SILVER:
        assert content(world, table) == before[table], table


def test_held_back_files_moved_or_copied_are_loaded_once_under_their_bronze_path(
        spark, tmp_path, monkeypatch):
    """Files a gate held back are replayed from Bronze, by the path they were loaded from.

    One moved since (the original gone): its rows are replayed under that path and the moved
    file settles as a copy of it. Another with a copy listed before it: the original is replayed
    and loaded once, the copy settles itself only (it is replayed by nothing). Were Bronze's
    history to no longer name the load that holds a file's rows, the replay of the moved file or
    the copy would find none: the run stops before publishing instead of settling it with rows
    lost."""
    generate(tmp_path / "landing", customers=10, months=1, seed=2, defect_rate=0.1)

    def settings(limit: float):
        return load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={},
                             quality={"max_quarantine_rate": {"default": limit}})

    first = bronze_to_silver(settings(0.0), spark=spark)
    assert first.blocked
    held_rows = {f.path: f.rows_in for f in first.files if f.outcome == "blocked"}
    landing = tmp_path / "landing" / "transactions"
    to_move, to_copy = sorted(landing.rglob("*.csv"))[:2]
    moved_from, original = (str(p.relative_to(tmp_path / "landing")) for p in (to_move, to_copy))
    moved = landing / "moved" / to_move.name
    moved.parent.mkdir()
    to_move.rename(moved)
    copy = landing / "0000" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(to_copy.read_bytes())

    monkeypatch.setattr(b2s, "_loaded_by", lambda loads: {})  # a history that names no load
    expected = "|".join(f"{path} was held back by a quality gate with {held_rows[held]} "
                        for path, held in ((f"transactions/moved/{to_move.name}", moved_from),
                                           ("transactions/0000/copy.csv", original)))
    with pytest.raises(b2s.LakehouseError, match=rf"({expected})row\(s\), but replaying it from "
                       r"Bronze \(the rows run \S+ appended\) found 0; nothing was published"):
        bronze_to_silver(settings(1.0), spark=spark)
    assert not (tmp_path / "lake" / "silver" / "transactions").exists()
    monkeypatch.undo()

    report = bronze_to_silver(settings(1.0), spark=spark)
    assert not report.blocked
    outcomes = {f.path: (f.outcome, f.note) for f in report.files}
    assert outcomes[f"transactions/moved/{to_move.name}"] == (
        "duplicate_file", f"same content as {moved_from}, held back by a quality gate and no "
        "longer landed there: its rows were replayed from Bronze under that path")
    assert outcomes["transactions/0000/copy.csv"] == (
        "duplicate_file", f"same content as {original}, held back by a quality gate")
    silver = delta_io(spark, Lake.at(str(tmp_path / "lake"))).read(
        TableId("silver", "transactions"))
    for path in (moved_from, original):
        record = next(f for f in report.files if f.path == path)
        assert record.outcome == "loaded" and record.rows_in == held_rows[path] > 0
        assert silver.where(F.col("source_file") == path).count() == record.rows_written > 0
    assert silver.count() == silver.select("trans_id").distinct().count()
    # settled: the next run has nothing to do
    assert bronze_to_silver(settings(1.0), spark=spark).nothing_new


@pytest.mark.parametrize("in_memory_rows", [250_000, 0])
def test_writes_are_prepared_while_the_gate_runs_only_when_it_runs_in_the_driver(
        spark, tmp_path, monkeypatch, in_memory_rows):
    """A batch its gate validates in the driver (pandas) has its quarantine and Silver writes
    prepared meanwhile, in the background; one validated in Spark is written after its gate
    (the two would compete for the same cores). Either way Silver is the same."""
    generate(tmp_path / "landing", customers=8, months=1, seed=5, defect_rate=0.1)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={},
                             quality={"in_memory_rows": in_memory_rows,
                                      "max_quarantine_rate": {"default": 1.0}})
    labels: list[str] = []
    prepare = DeltaRsIO.prepare

    def spy(self, df, run_id, label, target=None):
        labels.append(label)
        return prepare(self, df, run_id, label, target)

    monkeypatch.setattr(DeltaRsIO, "prepare", spy)
    report = bronze_to_silver(settings, spark=spark)
    assert not report.blocked, report.summary()
    ahead = sorted(label for label in labels if label.startswith("ahead-"))
    engines = {g.table: g.engine for g in report.gates}
    if in_memory_rows:
        assert set(engines.values()) == {"pandas"}
        assert {"ahead-transactions", "ahead-transactions_quarantine",
                "ahead-customers_quarantine"} <= set(ahead), ahead
        assert "ahead-customers" not in ahead  # an SCD2 entity's tables come from its history
    else:
        assert set(engines.values()) == {"spark"} and ahead == []
    delta = delta_io(spark, Lake.at(settings.lake_root))
    step = next(s for s in report.steps if s.step == "silver.transactions")
    assert delta.read(TableId("silver", "transactions")).count() == step.rows_written > 0
    assert stray_files(Lake.at(settings.lake_root), SILVER) == []


def test_a_file_written_to_while_the_run_reads_it_stops_the_run(spark, tmp_path, monkeypatch):
    """A landing file still being copied in (it grows after it was listed and hashed) stops the
    run before publishing; the next run loads it whole, once."""
    generate(tmp_path / "landing", customers=8, months=1, seed=4, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    growing = sorted((tmp_path / "landing" / "transactions").rglob("*.csv"))[-1]
    lines = growing.read_text().splitlines(keepends=True)
    growing.write_text("".join(lines[:-3]))  # the copy is not finished when the run lists it
    read_raw = b2s.read_raw

    def read_while_the_copy_finishes(spark, source, files):
        raw = read_raw(spark, source, files)
        if source.name == "transactions":
            growing.write_text("".join(lines))
        return raw

    monkeypatch.setattr(b2s, "read_raw", read_while_the_copy_finishes)
    size = f"{len(''.join(lines[:-3]).encode()):,} -> {len(''.join(lines).encode()):,} bytes"
    with pytest.raises(b2s.LandingError, match=rf"1 landing file\(s\) changed while this run "
                       rf"read them: transactions/\S+{growing.name} \({size}\); nothing was "
                       "published"):
        bronze_to_silver(settings, spark=spark)
    assert not (tmp_path / "lake" / "silver" / "transactions").exists()

    monkeypatch.setattr(b2s, "read_raw", read_raw)
    report = bronze_to_silver(settings, spark=spark)
    assert not report.blocked
    silver = delta_io(spark, Lake.at(settings.lake_root)).read(TableId("silver", "transactions"))
    assert silver.where(F.col("source_file").endswith(growing.name)).count() == len(lines) - 1
    assert silver.count() == silver.select("trans_id").distinct().count()


def test_conflicting_versions_with_a_card_number_in_free_text_are_masked_in_the_quarantine(
        spark, tmp_path, monkeypatch):
    """Two versions of one key in one file pass every rule, one with a card number typed into
    a free-text column: the card number blocks the batch (nothing is published) and both
    versions are quarantined, as evidence, with the number masked in their raw values. (Their
    raw values were written as landed before: a conflicting version was never redacted.)"""
    from tests.reliability.card_scan import scan_lake

    header = ("trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,"
              "state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,"
              "is_fraud")

    def line(key: str, job: str) -> str:
        return (f"2024-01-05 10:00:00,4111111111111111,Kirlin and Sons,grocery_pos,12.50,Ann,Lee,"
                f"F,1 Main St,Boston,MA,02108,42.3601,-71.0589,650000,{job},1980-01-01,{key},"
                "1704448800,42.0,-71.5,0")

    landing = tmp_path / "landing" / "transactions"
    landing.mkdir(parents=True)
    (landing / "tx_2024-01-05.csv").write_text("\n".join(
        [header, *(line(f"ok{i}", "Nurse") for i in range(8)), line("dup1", "Nurse"),
         line("dup1", "Nurse card 5555 5555 5555 4444"),
         line("one1", "Clerk card 5555 5555 5555 4444")]) + "\n")
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={},
                             quality={"max_quarantine_rate": {"default": 1.0}},
                             catalog={"kind": "none"})
    prepared: dict[str, dict[str, int]] = {}
    prepare = DeltaRsIO.prepare

    def spy(self, df, run_id, label, target=None):
        result = prepare(self, df, run_id, label, target)
        if target is not None and not str(target.table).startswith("bronze."):
            # the card numbers in the files written into the table's folder
            prepared[str(target.table)] = pan_hits(result.frame)
        return result

    monkeypatch.setattr(DeltaRsIO, "prepare", spy)
    report = bronze_to_silver(settings, spark=spark)
    assert report.blocked, "a card number in a row that passes every rule blocks the batch"
    # A batch's clean rows are written into Silver's folder while its gate runs, to be
    # committed after it; not where a clean row holds a card number (the gate will block): a
    # card number never reaches Silver's folder, not even in files that are never committed.
    assert "silver.transactions_quarantine" in prepared
    assert all(hits == {} for hits in prepared.values()), prepared
    assert not (tmp_path / "lake" / "silver" / "transactions").exists()
    delta = delta_io(spark, Lake.at(settings.lake_root))
    quarantine = sorted(r.raw for r in delta.read(
        TableId("silver", "transactions_quarantine")).collect())
    assert len(quarantine) == 2
    assert any('"job":"Nurse card **** **** **** 4444"' in raw for raw in quarantine), quarantine
    findings, scanned = scan_lake(tmp_path / "lake")
    assert scanned > 10
    assert findings == [], [str(f) for f in findings]


def test_entities_are_prepared_at_once_and_gated_one_at_a_time(spark, tmp_path, monkeypatch):
    """Each entity's read, parse and classification runs beside the others' (each waits here
    until all three have started: run one after another, they would wait in vain), and their
    gates run one at a time (Great Expectations' context is not thread-safe)."""
    generate(tmp_path / "landing", customers=8, months=1, seed=5, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    all_started = threading.Barrier(3, timeout=60)
    prepare, validate = BronzeToSilver._prepare, QualityGates.validate
    gating, most_at_once = [], []
    lock = threading.Lock()

    def prepare_together(self, item):
        all_started.wait()
        prepare(self, item)

    def validate_alone(self, *args, **kwargs):
        with lock:
            gating.append(args[0])
            most_at_once.append(len(gating))
        try:
            return validate(self, *args, **kwargs)
        finally:
            with lock:
                gating.remove(args[0])

    monkeypatch.setattr(BronzeToSilver, "_prepare", prepare_together)
    monkeypatch.setattr(QualityGates, "validate", validate_alone)
    report = bronze_to_silver(settings, spark=spark)
    assert not report.blocked, report.summary()
    assert len(most_at_once) == 3 and max(most_at_once) == 1, most_at_once
    # the gates are reported in the entities' order, whatever order they ran in
    assert [g.table for g in report.gates] == ["silver.customers", "silver.loans",
                                               "silver.transactions"]
    delta = delta_io(spark, Lake.at(settings.lake_root))
    for name in ("customers", "loans", "transactions"):
        step = next(s for s in report.steps if s.step == f"silver.{name}")
        assert delta.read(TableId("silver", name)).count() == step.rows_written > 0


def test_an_entity_that_fails_in_phase_one_stops_the_run_before_anything_is_published(
        spark, tmp_path, monkeypatch):
    """One entity's error, while the others are still being prepared, ends the run with that
    error once they have stopped: no Silver table is written, nothing is left in the run's
    scratch folder, and the next run loads every file."""
    generate(tmp_path / "landing", customers=8, months=1, seed=5, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    parse = b2s.parse_fields

    def parse_but_not_loans(source, *args, **kwargs):
        if source.name == "loans":
            raise RuntimeError("the loans parse failed")
        return parse(source, *args, **kwargs)

    monkeypatch.setattr(b2s, "parse_fields", parse_but_not_loans)
    with pytest.raises(RuntimeError, match="the loans parse failed"):
        bronze_to_silver(settings, spark=spark)
    lake = Lake.at(settings.lake_root)
    assert [name for name in SILVER + ["ops.ingested_files"]
            if Path(lake.uri(TableId.parse(name))).exists()] == []
    staging = Path(lake.staging_root)
    assert not staging.exists() or list(staging.iterdir()) == []

    monkeypatch.setattr(b2s, "parse_fields", parse)
    report = bronze_to_silver(settings, spark=spark)
    assert not report.blocked, report.summary()
    files = delta_io(spark, lake).read(INGESTED_FILES).toPandas()
    landed = [p for p in (tmp_path / "landing").rglob("*") if p.is_file()]
    assert len(files) == len(landed) and not files.path.duplicated().any()
