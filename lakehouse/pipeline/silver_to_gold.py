"""Silver -> Gold: every Gold table rebuilt from one pinned Silver snapshot, behind gates.

Gold is rebuilt only when a Silver table changed since the last build (the Silver versions each
build read are kept in each Gold commit's metadata), so a run with nothing new commits nothing,
and a run stopped between two Gold commits is finished by the next one.
All four tables are validated before any is written; a failing gate leaves every Gold table at
its previous version.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.gold.build import (
    GOLD_TABLES,
    SILVER_INPUTS,
    SilverSnapshot,
    build_gold,
    enriched_transactions,
)
from lakehouse.gold.expectations import SilverTotals, gold_gates
from lakehouse.gold.rewards import load_rules
from lakehouse.io.delta import delta_io
from lakehouse.ops import tables as ops
from lakehouse.pipeline.faults import fault_point
from lakehouse.pipeline.run import Progress, RunReport, StepTimer, lake_lock, new_run_id
from lakehouse.quality.gates import DQ_RESULTS, QualityGates, results_frame
from lakehouse.runtime.spark import get_spark

INPUTS_KEY = "inputs"


class SilverToGold:
    def __init__(self, settings: Settings, spark: SparkSession, report: RunReport, *,
                 progress: Progress, gates: QualityGates | None = None,
                 full_refresh: bool = False) -> None:
        self.settings = settings
        self.spark = spark
        self.lake = settings.lake()
        self.delta = delta_io(spark, self.lake)
        self.report = report
        self.progress = progress
        self.gates = gates or QualityGates(self.lake)
        self.full_refresh = full_refresh

    def _last_inputs(self) -> str | None:
        """The Silver versions every Gold table was last built from; None when the tables
        disagree (a run stopped between two Gold commits) or one is missing."""
        built = set()
        for table in GOLD_TABLES:
            history = self.delta.history(table, 1) if self.delta.exists(table) else []
            built.add(history[0].metadata.get(f"lakehouse.{INPUTS_KEY}") if history else None)
        return built.pop() if len(built) == 1 else None

    def run(self) -> None:
        fault_point("gold.start")
        versions = {str(t): self.delta.version(t) for t in SILVER_INPUTS}
        missing = [t for t, v in versions.items() if v is None]
        if missing:
            self.progress(f"gold: skipped, Silver has no {', '.join(missing)} yet")
            return
        inputs = json.dumps(versions, sort_keys=True)
        if inputs == self._last_inputs() and not self.full_refresh:
            self.progress("gold: Silver unchanged since the last build; nothing to do")
            return
        run_id = self.report.run_id
        timer = StepTimer(run_id, "gold.build", "gold.*")
        self.progress("gold: building from " + ", ".join(f"{t}@v{v}"
                                                         for t, v in versions.items()))
        read = {str(t): self.delta.read(t, version=versions[str(t)]) for t in SILVER_INPUTS}
        silver = SilverSnapshot(read["silver.transactions"], read["silver.customers"],
                                read["silver.customers_history"], read["silver.loans"],
                                load_rules(self.spark, self.settings.reference_dir /
                                           "reward_rules.csv"))
        try:
            # Each frame is computed once into the run's scratch folder and read back from
            # there by the gates and the writes (so the gates' time is the gates' own).
            enriched = self.delta.stage(enriched_transactions(silver), run_id, "gold-enriched")
            as_of = enriched.agg(F.max("trans_date")).collect()[0][0]
            gold = {t: self.delta.stage(df, run_id, f"gold-{t.name}")
                    for t, df in build_gold(silver, as_of, enriched).items()}
            totals = SilverTotals.of(enriched, silver.customers, silver.loans)
            results, steps = [], []
            for table, (frame, expectations) in gold_gates(gold, enriched, totals).items():
                started = time.perf_counter()
                # the reconciliation joins computed once, not once per expectation
                frame = self.delta.stage(frame, run_id, f"gate-{table.name}")
                gate = self.gates.validate(str(table), frame, expectations, run_id)
                gate = replace(gate, seconds=round(time.perf_counter() - started, 3))
                results.append(gate)
                steps.append(StepTimer(run_id, f"gate.{table}", str(table)).finish(
                    outcome="passed" if gate.success else "failed", duration_s=gate.seconds,
                    message=f"{len(gate.failures)} of {len(gate.results)} expectations "
                            "failed"))
            self.report.gates += results
            if all(g.success for g in results):
                for table, frame in gold.items():
                    step = StepTimer(run_id, str(table), str(table))
                    self.progress(f"{table}: writing")
                    committed = self.delta.write(frame, table, "overwrite", run_id=run_id,
                                                 step="gold", metadata={INPUTS_KEY: inputs})
                    steps.append(step.finish(rows_in=committed.rows,
                                             rows_written=committed.rows,
                                             table_version=committed.version))
            else:
                steps.append(timer.finish(outcome="blocked", message="a Gold quality gate "
                                          "failed; every Gold table keeps its previous version"))
                self.progress("gold: not published (quality gate)")
            self.delta.write(results_frame(self.spark, run_id, results), DQ_RESULTS,
                             run_id=run_id, step="ops")
            self.delta.write(ops.to_frame(self.spark, steps, ops.RUN_LOG_SCHEMA), ops.RUN_LOG,
                             run_id=run_id, step="ops")
            self.report.steps += steps
            self.report.docs_path = self.gates.docs_index()
        finally:
            self.lake.clear_staging(run_id)


def silver_to_gold(settings: Settings, *, progress: Progress = lambda _: None,
                   spark: SparkSession | None = None, full_refresh: bool = False) -> RunReport:
    """Rebuild Gold when Silver changed, under the lake lock (the Glue job's entry)."""
    lake = settings.lake()
    with lake_lock(lake):
        report = RunReport(new_run_id())
        SilverToGold(settings, spark or get_spark(settings.spark), report, progress=progress,
                     full_refresh=full_refresh).run()
        return report
