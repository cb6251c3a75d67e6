"""The whole nightly workflow in one process: Bronze -> Silver, then Silver -> Gold.

The order is the job graph's; a quality gate that blocks Silver stops the run before Gold.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from lakehouse.config import Settings
from lakehouse.io.lake import Lake
from lakehouse.pipeline.bronze_to_silver import BronzeToSilver
from lakehouse.pipeline.run import Progress, RunReport, lake_lock
from lakehouse.pipeline.silver_to_gold import SilverToGold
from lakehouse.runtime.spark import get_spark


def run_workflow(settings: Settings, *, full_refresh: bool = False,
                 progress: Progress = lambda _: None,
                 spark: SparkSession | None = None) -> RunReport:
    """Run every step under one lake lock and one run id; the report covers all of them."""
    with lake_lock(Lake.at(settings.lake_root)):
        session = spark or get_spark(settings.spark)
        silver = BronzeToSilver(settings, session, full_refresh=full_refresh, progress=progress)
        report = silver.run()
        if not report.blocked:
            SilverToGold(settings, session, report, progress=progress, gates=silver.gates,
                         full_refresh=full_refresh).run()
        return report
