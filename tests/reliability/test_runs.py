"""Whole runs as an operator starts them (``lakehouse run`` in its own process): two at once over
one lake, runs killed with SIGKILL at step boundaries and in the middle of a Delta commit, and the
card-number scan over everything such runs leave outside Bronze.

One generated sample, split in two: January is the first night's landing, February arrives
later. Two runs started at once over January build the base lake (one of them must back off);
every other scenario starts from a copy of it and lands February. The reference is the same
February run, uninterrupted.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.pipeline.workflow import run_workflow
from tests.reliability.card_scan import scan_lake, scan_text
from tests.reliability.conftest import SHUFFLE_PARTITIONS
from tests.reliability.lakes import RUN_COLUMNS, checksum, read_table, table_path

# The module's first test also waits for the runs its fixture starts.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800),
              pytest.mark.usefixtures("one_shuffle_partition")]

GOLD = ["gold.customer_summary", "gold.customer_monthly_spend", "gold.fraud_daily",
        "gold.loan_default_features"]
SILVER_KEYS = {"silver.transactions": ["trans_id"], "silver.customers": ["customer_id"],
               "silver.customers_history": ["customer_id", "valid_from"],
               "silver.loans": ["loan_id", "as_of_date"]}
QUARANTINE = ["silver.transactions_quarantine", "silver.customers_quarantine",
              "silver.loans_quarantine"]
SOURCES = ["transactions", "customers", "loans"]
RUN_TIMEOUT_S = 900
_JANUARY = re.compile(r"2024-01-\d\d")

# Where a run is killed (LAKEHOUSE_FAULT, lakehouse/pipeline/faults.py), in pipeline order.
KILL_POINTS = [
    # Bronze appended, nothing recorded yet: the re-run must not load the file twice.
    pytest.param("bronze.appended:customers", id="after-bronze-append"),
    # customers and loans recorded; transactions' quarantine rows written and its Silver rows
    # merged, but not recorded: the re-run must neither load nor quarantine them twice.
    pytest.param("silver.published:transactions", id="between-silver-merge-and-manifest"),
    # Silver done; the first Gold table's Parquet written, its commit not: the step boundary
    # and a Delta commit cut in the middle.
    pytest.param("delta.commit:gold.customer_summary", id="mid-commit-first-gold-table"),
    # Two Gold tables replaced, the third one's commit cut in the middle.
    pytest.param("delta.commit:gold.fraud_daily", id="mid-commit-later-gold-table"),
]


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def start_run(lake: Path, landing: Path, cwd: Path, fault: str | None = None) -> subprocess.Popen:
    """``lakehouse run`` in a new process (its own JVM), in its own process group."""
    env = {k: v for k, v in os.environ.items() if k != "LAKEHOUSE_FAULT"}
    env.setdefault("LAKEHOUSE_TOKEN_KEY", "test-only-tokenization-key")
    env["LAKEHOUSE_SHUFFLE_PARTITIONS"] = SHUFFLE_PARTITIONS
    if fault:
        env["LAKEHOUSE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "run", "--lake", str(lake), "--landing",
         str(landing)], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)


def finish(process: subprocess.Popen) -> Finished:
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        # a killed driver leaves its JVM to notice the closed pipe: end whatever is left of the
        # process group this test started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return Finished(process.returncode, stdout, stderr)


def settings_for(lake: Path, landing: Path):
    return load_settings(lake_root=str(lake), landing_root=str(landing), environ={},
                         catalog={"kind": "none"})


@dataclass(frozen=True)
class LakeState:
    """What must be equal between a recovered lake and the reference."""

    gold: dict[str, str]                      # table -> checksum of its sorted rows
    silver: dict[str, str]                    # the same, lineage columns left out
    quarantine: dict[str, str]
    bronze_rows: dict[str, Counter]           # source -> rows per landing file
    manifest: Counter                         # (path, outcome) records in ops.ingested_files


def lake_state(lake: Path) -> LakeState:
    lineage = RUN_COLUMNS | {"source_file"}
    files = read_table(lake, "ops.ingested_files")
    return LakeState(
        gold={t: checksum(read_table(lake, t)) for t in GOLD},
        silver={t: checksum(read_table(lake, t), lineage) for t in SILVER_KEYS},
        quarantine={t: checksum(read_table(lake, t)) for t in QUARANTINE},
        bronze_rows={s: Counter(read_table(lake, f"bronze.{s}").source_file) for s in SOURCES},
        manifest=Counter(zip(files.path, files.outcome, strict=True)))


def assert_no_duplicates(lake: Path) -> None:
    for table, key in SILVER_KEYS.items():
        df = read_table(lake, table)
        assert not df.duplicated(key).any(), f"{table}: duplicate keys"
    files = read_table(lake, "ops.ingested_files")
    settled = files[files.outcome != "blocked"]
    assert not settled.path.duplicated().any(), "a landing file was recorded twice"
    for source in SOURCES:
        loaded = settled[(settled.source == source) & (settled.outcome == "loaded")]
        bronze = Counter(read_table(lake, f"bronze.{source}").source_file)
        assert bronze == Counter(dict(zip(loaded.path, loaded.rows_in, strict=True))), \
            f"bronze.{source}: rows per file differ from what ops.ingested_files recorded"


class KilledRuns:
    """The runs to kill, on a copy of the base lake each, started in the background ``AHEAD`` at
    a time, in order: they run while the test process recovers the ones before (a run spends
    much of its time waiting on its JVM; the machine has two cores)."""

    AHEAD = 2

    def __init__(self, root: Path, base: Path, landing: Path, points: list[str]) -> None:
        self.landing, self.points = landing, points
        self.lakes = {}
        for number, point in enumerate(points):
            self.lakes[point] = root / f"killed_{number}" / "lake"
            shutil.copytree(base, self.lakes[point])
        self.running: dict[str, subprocess.Popen] = {}
        self.done: dict[str, Finished] = {}

    def start(self, point: str) -> None:
        if point not in self.running and point not in self.done:
            lake = self.lakes[point]
            self.running[point] = start_run(lake, self.landing, lake.parent, fault=point)

    def start_ahead(self, point: str | None = None) -> None:
        """Keep ``AHEAD`` runs going beyond ``point`` (from the first one when None)."""
        first = 0 if point is None else self.points.index(point) + 1
        for later in self.points[first:first + self.AHEAD]:
            self.start(later)

    def result(self, point: str) -> tuple[Path, Finished]:
        self.start(point)
        if point in self.running:
            self.done[point] = finish(self.running.pop(point))
        return self.lakes[point], self.done[point]

    def stop(self) -> None:
        for process in self.running.values():
            process.kill()
            finish(process)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("runs")
    summary = generate(root / "generated", customers=8, months=2, seed=4, defect_rate=0.03)
    # tiny, but with card numbers and rejected rows, and under every quarantine limit
    assert summary.defects["customers"] == dict.fromkeys(summary.defects["customers"], 0)
    assert sum(summary.defects["transactions"].values()) > 5
    january, everything = root / "landing_january", root / "landing"
    for path in sorted((root / "generated").rglob("*")):
        if path.is_file():
            relative = path.relative_to(root / "generated")
            targets = [everything] + ([january] if _JANUARY.search(path.name) else [])
            for target in targets:
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)  # same bytes, same modification time
    base = root / "base"
    # Two runs at once over January: one builds the base lake, the other backs off.
    runs = [start_run(base, january, root), start_run(base, january, root)]
    first_night = [finish(p) for p in runs]
    assert any(r.returncode == 0 for r in first_night), [r.stderr[-2000:] for r in first_night]

    killed = KilledRuns(root, base, everything, [p.values[0] for p in KILL_POINTS])
    killed.start_ahead()  # beside the reference run
    try:
        reference = root / "reference"
        shutil.copytree(base, reference)
        report = run_workflow(settings_for(reference, everything), spark=spark)
        assert not report.blocked
        yield {"root": root, "january": january, "landing": everything, "base": base,
               "first_night": first_night, "reference": lake_state(reference),
               "reference_lake": reference, "killed": killed}
    finally:
        killed.stop()


# ------------------------------------------------------------------------ two runs at once

def test_two_runs_at_once_one_backs_off_cleanly(world, spark, tmp_path):
    codes = sorted(r.returncode for r in world["first_night"])
    assert codes == [0, 1], [r.stderr[-1000:] for r in world["first_night"]]
    loser = next(r for r in world["first_night"] if r.returncode == 1)
    messages = [line for line in loser.stderr.splitlines() if not line.startswith("[")]
    assert len(messages) == 1, loser.stderr  # one line, no traceback
    assert re.fullmatch(r"lakehouse: the lake .* is in use by pid \d+; try again when it "
                        r"finishes", messages[0]), messages[0]
    assert loser.stdout == ""
    # the lake is whole: every table readable, keys unique, counts consistent
    base = world["base"]
    for layer in ("bronze", "silver", "gold", "ops"):
        for folder in sorted((base / layer).iterdir()):
            read_table(base, f"{layer}.{folder.name}")
    assert_no_duplicates(base)
    # and the next run succeeds (nothing new to do)
    lake = tmp_path / "lake"
    shutil.copytree(base, lake)
    report = run_workflow(settings_for(lake, world["january"]), spark=spark)
    assert report.nothing_new and not report.blocked


# ------------------------------------------------------------------------- killed runs

@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_is_recovered_by_the_next(world, spark, point):
    lake, killed = world["killed"].result(point)
    world["killed"].start_ahead(point)  # run while this one is recovered
    assert killed.returncode == -signal.SIGKILL, (
        f"the run was not killed at {point}: exit {killed.returncode}\n{killed.stderr[-2000:]}")

    report = run_workflow(settings_for(lake, world["landing"]), spark=spark)
    assert not report.blocked
    assert_no_duplicates(lake)
    staging = lake / "bronze" / "_staging"  # what the killed run staged is gone too
    assert not staging.exists() or not any(staging.iterdir()), sorted(staging.rglob("*"))
    state, reference = lake_state(lake), world["reference"]
    assert state.manifest == reference.manifest
    assert state.bronze_rows == reference.bronze_rows, "Bronze rows per landing file"
    assert state.quarantine == reference.quarantine
    assert state.silver == reference.silver
    assert state.gold == reference.gold


def test_the_comparison_sees_a_changed_row(world):
    """The checksums compared above change when one value of one row does."""
    summary = read_table(world["reference_lake"], "gold.customer_summary")
    assert checksum(summary) == world["reference"].gold["gold.customer_summary"]
    summary.loc[0, "txn_count"] += 1
    assert checksum(summary) != world["reference"].gold["gold.customer_summary"]


# ----------------------------------------------------------------- card numbers in a run

def test_no_card_number_outside_bronze_after_real_runs(world):
    """Every table, log, report and catalog file of the lake, and what the command printed."""
    findings, scanned = [], 0
    for lake in (world["base"], world["reference_lake"]):
        found, count = scan_lake(lake)
        findings += found
        scanned += count
    for number, run in enumerate(world["first_night"]):
        findings += scan_text(run.stdout, f"run {number} stdout")
        findings += scan_text(run.stderr, f"run {number} stderr")
    assert scanned > 100
    assert any(p.suffix == ".html" for p in (world["base"] / "_quality").rglob("*")), \
        "Data Docs were scanned"
    assert any((world["base"] / "_catalog").rglob("*.json")), "the catalog was scanned"
    assert findings == [], [str(f) for f in findings]
    # the scan sees card numbers where they are allowed: Bronze
    in_bronze, _ = scan_lake(table_path(world["base"], "bronze.transactions").parent, skip=())
    assert len(in_bronze) > 100


def test_the_scan_catches_a_card_number_planted_in_a_copy(world, tmp_path):
    """Plant a test card number into copies of a real Gold table's data file and log, a Data
    Docs page and a catalog entry: the scan reports each place (and nothing in the originals)."""
    base, copy = world["base"], tmp_path / "lake"
    for part in ("gold/customer_summary", "_quality", "_catalog"):
        shutil.copytree(base / part, copy / part)
    assert scan_lake(copy)[0] == []

    table = copy / "gold" / "customer_summary"
    parquet = sorted(table.rglob("*.parquet"))[0]
    data = pq.read_table(parquet)
    states = data.column("state").to_pylist()
    states[0] = "4111111111111111"
    pq.write_table(data.set_column(data.column_names.index("state"), "state",
                                   pa.array(states, pa.string())), parquet)
    log = table / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    add = next(a["add"] for a in actions if "add" in a)
    stats = json.loads(add["stats"])
    stats["maxValues"]["customer_key"] = "card 5555-5555-5555-4444"
    add["stats"] = json.dumps(stats)
    log.write_text("".join(json.dumps(a) + "\n" for a in actions))
    page = sorted((copy / "_quality").rglob("*.html"))[-1]
    page.write_text(page.read_text() + "<td>3782 822463 10005</td>")
    entry = sorted((copy / "_catalog").rglob("*.json"))[0]
    entry.write_text(entry.read_text().replace("{", '{"planted": "6011111111111117", ', 1))

    places = {f.where.split(" [")[0].rsplit(":", 1)[0] for f in scan_lake(copy)[0]}
    assert places == {str(p.relative_to(copy)) for p in (parquet, log, page, entry)}


def test_a_card_number_in_the_wrong_field_blocks_the_run_and_leaks_nowhere(world, tmp_path,
                                                                            capsys):
    """Card numbers typed into a free-text field of a clean row, and into the merchant and the
    key of a rejected row: the gate blocks the run (exit 2), and neither the quarantine (written
    anyway, as evidence), the quality results, Data Docs, catalog nor the output show them."""
    from lakehouse.cli import main

    lake, landing = tmp_path / "lake", tmp_path / "landing"
    shutil.copytree(world["base"], lake)
    shutil.copytree(world["january"], landing)
    sample = next(p for p in sorted((landing / "transactions").rglob("*.csv"))
                  if not p.read_text().startswith(","))  # no index column
    header, first = sample.read_text().splitlines()[:2]
    columns = header.split(",")
    template = dict(zip(columns, next(csv.reader([first])), strict=True))
    rows = [dict(template, trans_num="planted-clean-1", job="Nurse, card 4111 1111 1111 1111"),
            dict(template, trans_num="4012888888881881", amt="-5.00",
                 merchant="Shop 5555555555554444"),
            dict(template, trans_num="planted-clean-2")]
    planted = landing / "transactions" / "late" / "planted.csv"
    planted.parent.mkdir()
    with planted.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    silver_version = DeltaTable(str(table_path(lake, "silver.transactions"))).version()

    code = main(["run", "--lake", str(lake), "--landing", str(landing)])
    output = capsys.readouterr()
    assert code == 2, output.err
    assert "card_number_found" in output.err
    assert DeltaTable(str(table_path(lake, "silver.transactions"))).version() == silver_version
    quarantine = read_table(lake, "silver.transactions_quarantine")
    mine = quarantine[quarantine.source_file == "transactions/late/planted.csv"]
    assert list(mine.natural_key) == ["trans_id=************1881"]
    assert "Shop ************4444" in mine.iloc[0].raw
    findings, _ = scan_lake(lake)
    findings += scan_text(output.out, "stdout") + scan_text(output.err, "stderr")
    assert findings == [], [str(f) for f in findings]
    bronze = read_table(lake, "bronze.transactions")
    assert len(scan_text(bronze[bronze.source_file == "transactions/late/planted.csv"]
                         .to_csv(), "bronze")) >= 6, "Bronze keeps the file as received"
