"""The bad-input corpus end to end, and replaying a fixed quarantined row.

Every case of ``tests/data/bad_inputs/cases.yaml`` lands in one landing area (each file at its
own path) and one Bronze -> Silver run processes them all; each case is then checked on its own:
the run did not crash, each file has its expected outcome, reason codes and counts, rows in =
written + quarantined + duplicates exactly, and every clean row planted is in Silver.
"""

from __future__ import annotations

import shutil
from collections import Counter

import pandas as pd
import pytest

from lakehouse.config import load_settings
from lakehouse.pipeline.bronze_to_silver import bronze_to_silver
from lakehouse.silver.rules import REASON_DESCRIPTIONS
from tests.reliability.card_scan import scan_lake
from tests.reliability.corpus import QUARANTINE_TABLE, SILVER_TABLE, CaseFile, land, load_cases
from tests.reliability.lakes import read_table, sorted_rows

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_shuffle_partition")]

CASES = load_cases()


@pytest.fixture(scope="module")
def corpus_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    expected = land(CASES, root / "landing")
    # The corpus is mostly bad rows: the quarantine-rate gate would (rightly) hold the whole
    # batch back, which is tested elsewhere (tests/pipeline/test_workflow.py).
    settings = load_settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"),
                             environ={}, quality={"max_quarantine_rate": {"default": 1.0}},
                             catalog={"kind": "none"})
    report = bronze_to_silver(settings, spark=spark)
    lake = root / "lake"
    tables = {name: read_table(lake, name) for name in
              ["ops.ingested_files", "ops.run_log", "bronze.transactions", "bronze.customers",
               "bronze.loans", *QUARANTINE_TABLE.values(),
               *(table for table, _ in SILVER_TABLE.values())]}
    return {"root": root, "settings": settings, "report": report, "expected": expected,
            "tables": tables}


def test_the_corpus_has_every_kind(corpus_run):
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES), "case ids are unique"
    for case in CASES:
        for spec in case.files:
            for reason in spec.reasons:
                assert reason in REASON_DESCRIPTIONS, f"{case.id}: unknown reason {reason}"
            if spec.outcome == "loaded" and not spec.no_clean_rows:
                assert spec.silver, f"{case.id}: a loaded file needs clean rows beside the bad"


def test_the_run_completes_and_publishes(corpus_run):
    report = corpus_run["report"]
    assert not report.blocked, [f.describe() for g in report.gates for f in g.failures]
    assert {f.path for f in report.files} == set(corpus_run["expected"])


def _file_record(run, spec: CaseFile) -> pd.Series:
    files = run["tables"]["ops.ingested_files"]
    rows = files[files.path == spec.landing]
    assert len(rows) == 1, f"{spec.landing}: {len(rows)} records in ops.ingested_files"
    return rows.iloc[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(corpus_run, case):
    for spec in case.files:
        where = f"{case.id}: {spec.landing}"
        record = _file_record(corpus_run, spec)
        assert record.outcome == spec.outcome, f"{where}: {record.outcome} ({record.note})"
        if spec.note:
            assert spec.note in (record.note or ""), f"{where}: note {record.note!r}"
        # counts conserve, and match what was planted
        assert record.rows_in == (record.rows_written + record.rows_quarantined
                                  + record.rows_duplicate), where
        assert (record.rows_in, record.rows_written, record.rows_quarantined,
                record.rows_duplicate) == (spec.rows_in, len(spec.silver), spec.quarantined,
                                           spec.duplicates), where
        bronze = corpus_run["tables"][f"bronze.{spec.source}"]
        mine = bronze[bronze.source_file == spec.landing]
        assert len(mine) == spec.rows_in, f"{where}: Bronze rows"
        for value in spec.never_stored:
            assert not mine.isin([value]).any().any(), f"{where}: {value!r} stored in Bronze"
        # every clean row planted is in Silver, from this file, once
        table, key = SILVER_TABLE[spec.source]
        silver = corpus_run["tables"][table]
        assert sorted(silver[silver.source_file == spec.landing][key]) == sorted(spec.silver), \
            f"{where}: Silver rows"
        # every quarantined row is there with the expected reasons
        quarantine = corpus_run["tables"][QUARANTINE_TABLE[spec.source]]
        rejected = quarantine[quarantine.source_file == spec.landing]
        assert len(rejected) == spec.quarantined, f"{where}: quarantine rows"
        carried = Counter(r for reasons in rejected.reasons for r in set(reasons))
        assert {r: carried[r] for r in spec.reasons} == spec.reasons, \
            f"{where}: reasons {dict(carried)}"
        for reasons in rejected.reasons:
            assert set(reasons) & set(spec.reasons), f"{where}: unexpected reasons {reasons}"


def test_every_silver_row_comes_from_a_planted_clean_row(corpus_run):
    for source, (table, key) in SILVER_TABLE.items():
        planted = Counter(k for spec in corpus_run["expected"].values() if spec.source == source
                          for k in spec.silver)
        assert Counter(corpus_run["tables"][table][key]) == planted, table


def test_run_log_conserves_rows_per_entity(corpus_run):
    files = corpus_run["tables"]["ops.ingested_files"]
    log = corpus_run["tables"]["ops.run_log"]
    for source in SILVER_TABLE:
        step = log[log.step == f"silver.{source}"].iloc[0]
        mine = files[files.source == source]
        assert step.rows_in == step.rows_written + step.rows_quarantined + step.rows_duplicate
        assert step.rows_in == mine.rows_in.sum(), source
        assert (step.rows_written, step.rows_quarantined, step.rows_duplicate) == (
            mine.rows_written.sum(), mine.rows_quarantined.sum(), mine.rows_duplicate.sum())
        assert len(corpus_run["tables"][f"bronze.{source}"]) == step.rows_in, source


def test_no_card_number_leaves_bronze(corpus_run):
    """Shifted, padded, grouped and mistyped card numbers included."""
    findings, scanned = scan_lake(corpus_run["root"] / "lake")
    assert scanned > 50
    assert findings == [], [str(f) for f in findings]


def test_a_fixed_quarantined_row_lands_in_silver_once(corpus_run, spark):
    """A rejected row, fixed and landed again in a new file, is merged into Silver exactly once;
    the quarantine keeps the original rejection (it is the evidence of what was received) and
    gains nothing."""
    root, settings = corpus_run["root"], corpus_run["settings"]
    original = (root / "landing" / "transactions" / "tx_amounts.csv").read_text().splitlines()
    conflicting = (root / "landing" / "transactions" /
                   "tx_duplicates_in_file.csv").read_text().splitlines()
    fixed_amount = next(line for line in original if ",tx_amounts-bad1," in line)
    fixed_amount = fixed_amount.replace(",-5.00,", ",5.00,")
    one_version = next(line for line in conflicting if ",tx_duplicates_in_file-bad1," in line)
    unchanged = next(line for line in original if ",tx_amounts-ok1," in line)
    replay = root / "landing" / "transactions" / "replay" / "fixed.csv"
    replay.parent.mkdir()
    replay.write_text("\n".join([original[0], fixed_amount, one_version, unchanged]) + "\n")

    report = bronze_to_silver(settings, spark=spark)
    assert not report.blocked
    assert [(f.path, f.outcome, f.rows_in, f.rows_written) for f in report.files] == [
        ("transactions/replay/fixed.csv", "loaded", 3, 3)]
    lake = root / "lake"
    silver = read_table(lake, "silver.transactions")
    for key in ("tx_amounts-bad1", "tx_duplicates_in_file-bad1"):
        rows = silver[silver.trans_id == key]
        assert len(rows) == 1, key
        assert rows.iloc[0].source_file == "transactions/replay/fixed.csv", key
    assert str(silver[silver.trans_id == "tx_amounts-bad1"].iloc[0].amount) == "5.00"
    assert (silver[silver.trans_id == "tx_amounts-ok1"].iloc[0].source_file
            == "transactions/tx_amounts.csv"), "an unchanged row is not rewritten"
    assert len(silver) == len(corpus_run["tables"]["silver.transactions"]) + 2
    quarantine = read_table(lake, "silver.transactions_quarantine")
    before = corpus_run["tables"]["silver.transactions_quarantine"]
    assert sorted_rows(quarantine, frozenset()) == sorted_rows(before, frozenset()), \
        "the quarantine is unchanged"
    assert [list(r) for r in quarantine[quarantine.natural_key == "trans_id=tx_amounts-bad1"]
            .reasons] == [["amount_out_of_range"]], "the original rejection is kept"

    # landing the same fix again changes nothing
    shutil.copy(replay, replay.with_name("fixed_again.csv"))
    report = bronze_to_silver(settings, spark=spark)
    assert [(f.path, f.outcome) for f in report.files] == [
        ("transactions/replay/fixed_again.csv", "duplicate_file")]
    assert len(read_table(lake, "silver.transactions")) == len(silver)
