"""Silver -> Gold: every Gold table brought up to one pinned Silver snapshot, behind gates.

Gold is rebuilt only when a Silver table (or the reward rules) changed since the last build:
the inputs each build read are kept in each Gold commit's metadata, so a run with nothing new
commits nothing, and a run stopped between two Gold commits is finished by the next one.

When the only change since the last build is rows appended to ``silver.transactions`` (a new
day), Gold is updated instead of rebuilt (``update_gold``): every table adds the new rows'
aggregates to its rows, customer rows included. Anything else
(an updated or deleted row, new master data or loans, new reward rules, a new year for the age
bands, ``--full-refresh``) rebuilds every table from the whole snapshot. Both give the same
tables, and the gates reconcile either with Silver itself.

All four tables are validated before any is written; a failing gate leaves every Gold table at
its previous version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, SparkSession

from lakehouse.config import Settings
from lakehouse.gold.build import (
    CLUSTER_BY,
    CUSTOMER_SUMMARY,
    GOLD_TABLES,
    SILVER_INPUTS,
    SilverSnapshot,
    Slice,
    build_gold,
    earlier_customers,
    enriched_transactions,
    settled_customers,
    summary_changes,
    update_additive,
    update_slices,
    update_summary,
)
from lakehouse.gold.expectations import Kept, SilverTotals, gold_gates, silver_per_customer
from lakehouse.gold.rewards import load_rules
from lakehouse.io.delta import (
    MAINTENANCE_OPERATIONS,
    REWRITE_OPERATIONS,
    Prepared,
    PreparedLater,
    Target,
    delta_io,
)
from lakehouse.io.lake import TableId
from lakehouse.ops import tables as ops
from lakehouse.pipeline.faults import fault_point
from lakehouse.pipeline.run import Progress, RunReport, StepTimer, lake_lock, new_run_id
from lakehouse.quality.gates import (
    DQ_RESULTS,
    DQ_RESULTS_SCHEMA,
    Gate,
    QualityGates,
    results_records,
)
from lakehouse.runtime.spark import get_spark, spark_step

INPUTS_KEY = "inputs"  # commit metadata: what the build read (Silver versions, rules digest)
AS_OF_KEY = "as_of"  # commit metadata: the build's reference day
BUILD_KEY = "build"  # commit metadata: "full" or "incremental"
RULES_KEY = "reward_rules"
TRANSACTIONS = SILVER_INPUTS[0]
CHANGES = "gold-changes"  # an update's label for summary_changes, prepared in the background


@dataclass(frozen=True)
class LastBuild:
    """What every Gold table was last built from."""

    inputs: dict[str, Any]
    as_of: date | None


class Built(NamedTuple):
    """Gold frames ready to validate and write."""

    build: str  # "full" or "incremental"
    as_of: date | None  # the reference day (None when Silver has no transactions)
    per_customer: DataFrame  # silver_per_customer of the whole snapshot, to reconcile with
    gold: dict[TableId, DataFrame]  # the tables to prepare
    # tables of which ``gold`` holds only the slice an update rewrites, and each one's current
    # version (whose other rows the write keeps)
    slices: dict[TableId, tuple[Slice, DataFrame]]
    # the tables being prepared already, in the background (the rest of ``gold``)
    later: PreparedLater | None


class SilverToGold:
    def __init__(self, settings: Settings, spark: SparkSession, report: RunReport, *,
                 progress: Progress, gates: QualityGates | None = None,
                 full_refresh: bool = False, render_docs: bool = True) -> None:
        self.settings = settings
        self.spark = spark
        self.lake = settings.lake()
        self.delta = delta_io(spark, self.lake)
        self.report = report
        self.progress = progress
        self.gates = gates or QualityGates.of(settings)
        self.full_refresh = full_refresh
        self.render_docs = render_docs  # False: the caller renders Data Docs (the workflow, once)

    def _last_build(self) -> LastBuild | None:
        """None when the Gold tables disagree (a run stopped between two Gold commits), one is
        missing, or they predate this metadata."""
        built = set()
        for table in GOLD_TABLES:
            # a vacuum or a compaction of a Gold table changes none of its rows
            last = self.delta.last_commit(table, MAINTENANCE_OPERATIONS | REWRITE_OPERATIONS)
            meta = last.metadata if last is not None else {}
            built.add((meta.get(f"lakehouse.{INPUTS_KEY}"), meta.get(f"lakehouse.{AS_OF_KEY}")))
        if len(built) != 1:
            return None
        inputs, as_of = built.pop()
        if inputs is None:
            return None
        return LastBuild(json.loads(inputs), date.fromisoformat(as_of) if as_of else None)

    def _appended(self, last: LastBuild | None, inputs: dict[str, Any]) -> DataFrame | None:
        """The transactions appended since the last build, when nothing else changed."""
        if self.full_refresh or last is None or last.as_of is None:
            return None
        tx = str(TRANSACTIONS)
        if any(last.inputs.get(k) != v for k, v in inputs.items() if k != tx) \
                or not isinstance(last.inputs.get(tx), int):
            return None
        return self.delta.appended_since(TRANSACTIONS, last.inputs[tx], inputs[tx])

    def run(self) -> None:
        with spark_step(self.spark, self.report.run_id, "gold.build"):
            self._run()

    def _run(self) -> None:
        fault_point("gold.start")
        # data versions: a vacuum of Silver adds versions but changes no file of its snapshot
        versions = {str(t): self.delta.data_version(t) for t in SILVER_INPUTS}
        missing = [t for t, v in versions.items() if v is None]
        if missing:
            self.progress(f"gold: skipped, Silver has no {', '.join(missing)} yet")
            return
        rules_path = self.settings.reference_dir / "reward_rules.csv"
        rules = load_rules(self.spark, rules_path)
        inputs = {**versions, RULES_KEY: hashlib.sha256(rules_path.read_bytes()).hexdigest()}
        last = self._last_build()
        if last is not None and last.inputs == inputs and not self.full_refresh:
            self.progress("gold: Silver unchanged since the last build; nothing to do")
            return
        self.gates.preload()
        read = {str(t): self.delta.read(t, version=versions[str(t)]) for t in SILVER_INPUTS}
        silver = SilverSnapshot(read["silver.transactions"], read["silver.customers"],
                                read["silver.customers_history"], read["silver.loans"], rules)
        try:
            self._publish(silver, inputs, last, self._appended(last, inputs))
        finally:
            self.lake.clear_staging(self.report.run_id)

    def _update(self, silver: SilverSnapshot, inputs: dict[str, Any], last: LastBuild,
                appended: DataFrame) -> Built | None:
        """Gold updated with the appended transactions; None when they start a new year."""
        assert last.as_of is not None
        run_id = self.report.run_id
        staged = self.delta.prepare(enriched_transactions(replace(silver,
                                                                  transactions=appended)),
                                    run_id, "gold-new")
        new = staged.frame
        first, newest = self.delta.bounds(staged, "trans_date")  # from footers: no job
        as_of = max(last.as_of, newest or last.as_of)
        if as_of.year != last.as_of.year:
            return None
        tx = str(TRANSACTIONS)
        self.progress(f"gold: updating with the transactions appended to {tx} since "
                      f"v{last.inputs[tx]} (now v{inputs[tx]}); everything else unchanged")
        current = {t: self.delta.read(t) for t in GOLD_TABLES}
        slices = update_slices(first or as_of)
        # What needs nothing from the earlier rows is prepared in the background from now on,
        # two at a time, beside the pass over those rows: the customer summary's changes (the
        # summary waits for them after the pass) and the tables that only add the new rows up.
        # Prepared beside the pass only, with the summary after them, they kept a core idle
        # through the summary's chain of small jobs: a 1 M-row day's Gold update took 12.5-13.3
        # s, against 11.5-12.2 s this way (alternated runs).
        background: dict[str, tuple[DataFrame, Target | None]] = {
            CHANGES: (summary_changes(silver, current, new), None),
            **{_label(table): (df, _target(table, slices.get(table)))
               for table, df in update_additive(silver, current, new, slices).items()}}
        later = self.delta.prepare_later(background, run_id, 2)
        try:
            # One pass over the rows the last build read, for the update and for the gates. In
            # a task per core rather than per file: each task's partial aggregate then has a
            # row per customer, not a few rows each to shuffle (4 M rows: 1.2 M rows shuffled
            # -> 0.3 M).
            rows = self.delta.read(TRANSACTIONS, version=last.inputs[tx])
            lookup = self.delta.prepare_all({"gold-earlier": (
                earlier_customers(silver, current, new,
                                  rows.coalesce(self.spark.sparkContext.defaultParallelism)),
                None)}, run_id)["gold-earlier"].frame
            earlier = settled_customers(lookup, silver, new, rows)
            changes = later.take(CHANGES)
            assert changes is not None
            summary = update_summary(silver, current, new, earlier, as_of, changes.frame)
        except BaseException:
            later.discard()
            raise
        return Built("incremental", as_of, silver_per_customer(new, lookup),
                     {CUSTOMER_SUMMARY: summary},
                     {t: (s, current[t]) for t, s in slices.items()}, later)

    def _rebuild(self, silver: SilverSnapshot, inputs: dict[str, Any]) -> Built:
        run_id = self.report.run_id
        self.progress("gold: building from " + ", ".join(
            f"{t}@v{inputs[str(t)]}" for t in SILVER_INPUTS))
        staged = self.delta.prepare(enriched_transactions(silver), run_id, "gold-enriched")
        enriched = staged.frame
        as_of = self.delta.bounds(staged, "trans_date")[1]  # from footers: no job
        return Built("full", as_of, silver_per_customer(enriched),
                     build_gold(silver, as_of, enriched), {}, None)

    def _publish(self, silver: SilverSnapshot, inputs: dict[str, Any], last: LastBuild | None,
                 appended: DataFrame | None) -> None:
        run_id = self.report.run_id
        timer = StepTimer(run_id, "gold.build", "gold.*")
        built = None
        if appended is not None and last is not None:
            built = self._update(silver, inputs, last, appended)
        if built is None:
            built = self._rebuild(silver, inputs)
        build, as_of, per_silver, built_gold, slices, later = built
        # Each frame is computed once, a few at once, and read back from its files by the gates
        # (so the gates' time is the gates' own): the Gold tables' into files that become the
        # tables' next versions as they are, once every gate passed (DeltaIO.prepare), in the
        # background; per_customer, what the gates reconcile with (from the whole Silver
        # snapshot), into the run's scratch folder, and the totals the gates check are
        # counted from it while the tables are still being computed.
        pending: dict[TableId, Prepared] = {}
        gold = self.delta.prepare_later({_label(t): (df, _target(t, slices[t][0] if t in slices
                                                                else None))
                                         for t, df in built_gold.items()},
                                        run_id, self.settings.spark.concurrent_jobs)
        try:
            per_customer = self.delta.stage(per_silver, run_id, "gate-silver")
            totals = SilverTotals.of(per_customer, silver.customers, silver.loans)
            kept = {t: Kept.of(current, s) for t, (s, current) in slices.items()}
            prepared = gold.result()
            pending |= {t: prepared[_label(t)] for t in built_gold}
            if later is not None:
                pending |= {p.committable.table: p for p in later.result().values()
                            if p.target is not None}
            pending = {t: pending[t] for t in GOLD_TABLES}  # committed in this order
            self._gate_and_commit(build, as_of, inputs, per_customer, totals, pending, kept,
                                  timer)
        finally:
            for unfinished in (gold, later):
                if unfinished is not None:
                    unfinished.discard()  # not taken: preparing another failed
            for left in pending.values():  # not committed: a gate failed, or an error
                self.delta.discard(left)

    def _gate_and_commit(self, build: str, as_of: date | None,
                         inputs: dict[str, Any], per_customer: DataFrame, totals: SilverTotals,
                         pending: dict[TableId, Prepared], kept: dict[TableId, Kept],
                         timer: StepTimer) -> None:
        """Validates every prepared Gold table, then commits each (removing it from
        ``pending``) if all passed; records the gates and steps."""
        run_id = self.report.run_id
        gold = {t: p.frame for t, p in pending.items()}
        steps = []
        # each table's rows from its files' footers, not counted by a Spark job each
        counted = {t: self.delta.rows(p) for t, p in pending.items()}
        checks = gold_gates(gold, per_customer, totals, kept, counted)
        results = self.gates.validate_all([Gate(str(t), frame, expectations, rows) for
                                           t, (frame, expectations, rows) in checks.items()],
                                          run_id)
        for table, gate in zip(checks, results, strict=True):
            steps.append(StepTimer(run_id, f"gate.{table}", str(table)).finish(
                outcome="passed" if gate.success else "failed", duration_s=gate.seconds,
                message=gate.summary()))
        self.report.gates += results
        if all(g.success for g in results):
            metadata = {INPUTS_KEY: json.dumps(inputs, sort_keys=True),
                        AS_OF_KEY: as_of.isoformat() if as_of else "", BUILD_KEY: build}
            for table in list(pending):
                step = StepTimer(run_id, str(table), str(table))
                prepared = pending.pop(table)
                rewrite = prepared.committable.replace_where
                self.progress(f"{table}: committing" + (f" the rows where {rewrite}" if rewrite
                                                        else ""))
                with spark_step(self.spark, run_id, str(table), "commit"):
                    committed = self.delta.commit(prepared, run_id=run_id, step="gold",
                                                  metadata=metadata)
                # the step times the commit; the table's files were computed before the gates,
                # beside the other tables'
                message = (f"{build} build; files computed in {prepared.seconds:.1f} s"
                           + (f"; rewrote the rows where {rewrite}" if rewrite else ""))
                steps.append(step.finish(rows_in=committed.rows, rows_written=committed.rows,
                                         table_version=committed.version, message=message))
        else:
            steps.append(timer.finish(outcome="blocked", message="a Gold quality gate failed; "
                                      "every Gold table keeps its previous version"))
            self.progress("gold: not published (quality gate)")
        with spark_step(self.spark, run_id, "ops", "record the gates' results and steps"):
            self.delta.append_records(results_records(run_id, results), DQ_RESULTS_SCHEMA,
                                      DQ_RESULTS, run_id=run_id, step="ops")
            self.delta.append_records(ops.records(steps), ops.RUN_LOG_SCHEMA, ops.RUN_LOG,
                                      run_id=run_id, step="ops")
        self.report.steps += steps
        if self.render_docs:
            self.report.docs_path = self.gates.render_docs()


def _label(table: TableId) -> str:
    """A Gold table's label among the frames a build prepares."""
    return f"gold-{table.name}"


def _target(table: TableId, rewrites: Slice | None = None) -> Target:
    """How a Gold table is written: whole, or the slice an update rewrites."""
    return Target(table, "overwrite", rewrites.predicate if rewrites is not None else None,
                  CLUSTER_BY.get(table))


def silver_to_gold(settings: Settings, *, progress: Progress = lambda _: None,
                   spark: SparkSession | None = None, full_refresh: bool = False) -> RunReport:
    """Rebuild Gold when Silver changed, under the lake lock (the Glue job's entry)."""
    lake = settings.lake()
    with lake_lock(lake, settings.aws, progress, settings.lock_wait_s):
        report = RunReport(new_run_id())
        SilverToGold(settings, spark or get_spark(settings.spark, write_archive=True), report,
                     progress=progress, full_refresh=full_refresh).run()
        return report
