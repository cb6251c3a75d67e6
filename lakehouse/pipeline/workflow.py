"""The whole nightly workflow in one process, in the order of the job graph
(``conf/job_graph.yaml``, the same graph the Glue workflow follows).

A quality gate that blocks a step stops the run before the steps after it; the catalog step
still registers what was written (quarantine, ops tables), as the evidence an operator needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.errors import ConfigError
from lakehouse.pipeline.bronze_to_silver import BronzeToSilver
from lakehouse.pipeline.graph import JobGraph, Step, load_job_graph
from lakehouse.pipeline.run import Progress, Reprocess, RunReport, lake_lock, new_run_id
from lakehouse.pipeline.silver_to_gold import SilverToGold
from lakehouse.pipeline.workload import pipeline_spark
from lakehouse.quality.gates import QualityGates


class _Run:
    """What the steps of one run share: settings, Spark, the report and the gates."""

    def __init__(self, settings: Settings, spark: SparkSession, full_refresh: bool,
                 progress: Progress, reprocess: Reprocess | None = None) -> None:
        self.settings, self.spark = settings, spark
        self.full_refresh, self.progress, self.reprocess = full_refresh, progress, reprocess
        self.report = RunReport(new_run_id())
        self.gates = QualityGates.of(settings)

    def bronze_to_silver(self) -> None:
        BronzeToSilver(self.settings, self.spark, full_refresh=self.full_refresh,
                       progress=self.progress, report=self.report,
                       gates=self.gates, render_docs=False, reprocess=self.reprocess).run()

    def silver_to_gold(self) -> None:
        SilverToGold(self.settings, self.spark, self.report, progress=self.progress,
                     gates=self.gates, full_refresh=self.full_refresh,
                     render_docs=False).run()

    def render_docs(self) -> None:
        """Data Docs of every gate the run's steps ran, rendered once (each render rebuilds
        the index page: about half a second)."""
        self.report.docs_path = self.gates.render_docs() or self.report.docs_path

    def register_catalog(self) -> None:
        register_catalog(self.settings, self.progress)


def register_catalog(settings: Settings, progress: Progress) -> None:
    """The catalog step: every table into the configured catalog (none: skipped)."""
    from lakehouse.catalog.register import register_lake
    from lakehouse.catalog.store import catalog_for

    catalog = catalog_for(settings)
    if catalog is None:
        progress("catalog: registration off (catalog.kind: none)")
        return
    register_lake(settings, catalog, progress)


def _action(run: _Run, step: Step) -> Callable[[], None]:
    if step.kind == "crawler":
        return run.register_catalog
    action = getattr(run, step.name, None)
    if action is None:
        raise ConfigError(f"job graph step {step.name!r} has no local runner "
                          "(known: bronze_to_silver, silver_to_gold)")
    return action


def run_workflow(settings: Settings, *, full_refresh: bool = False,
                 progress: Progress = lambda _: None,
                 spark: SparkSession | None = None, graph: JobGraph | None = None,
                 reprocess: Reprocess | None = None) -> RunReport:
    """Run every step of the job graph under one lake lock and one run id; the report covers
    all of them. ``reprocess``: the landing files of those days again (``Reprocess``)."""
    graph = graph or load_job_graph(settings.conf_dir)
    with lake_lock(settings.lake(), settings.aws, progress, settings.lock_wait_s):
        run = _Run(settings, spark or pipeline_spark(settings, full_refresh=full_refresh,
                                                 progress=progress, reprocess=reprocess),
                   full_refresh, progress, reprocess)
        try:
            for step in graph.order():
                if run.report.blocked and step.kind == "job":
                    progress(f"{step.name}: skipped (a quality gate blocked an earlier step)")
                    continue
                _action(run, step)()
        except BaseException:
            with contextlib.suppress(Exception):  # the pages of the gates that did run
                run.render_docs()
            raise
        run.render_docs()
        return run.report
