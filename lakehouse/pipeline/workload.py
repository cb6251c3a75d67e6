"""How much a pipeline run will read, estimated before Spark starts: for how its JVM compiles.

A small run (a day's files into a lake of a million or so transactions, the demo) is over
before the JVM's optimizing compiler repays its work; a large one (a full load, a day on a
bigger lake, whose Gold update reads every Silver transaction) is not
(``lakehouse.runtime.spark.QUICK_JIT`` has the figures). Only the landing listing,
``ops.ingested_files`` and the Delta log of ``silver.transactions`` are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.io.delta import data_bytes, delta_io
from lakehouse.io.lake import TableId
from lakehouse.pipeline.bronze_to_silver import pending_landing_bytes
from lakehouse.pipeline.run import Reprocess
from lakehouse.quality.gates import QualityGates
from lakehouse.runtime.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.config import Settings

log = logging.getLogger(__name__)

# At most this much new landing data (about 130 k transactions) and Silver
# (about 1.4 M transactions) makes a small run. Measured, with the sizes as counted here: a day
# of 11 k rows on a 1 M lake (7 MB, 177 MB) ran faster with C1 only; a day of 44 k rows on a
# 4 M lake (27 MB, 581 MB) ran as fast either way; a full load of 1 M (239 MB) ran 40% slower.
SMALL_LANDING_BYTES = 32 * 2**20
SMALL_SILVER_BYTES = 256 * 2**20
SILVER_TRANSACTIONS = TableId("silver", "transactions")


@dataclass(frozen=True)
class Workload:
    landing_bytes: int  # landing data no earlier run settled (all of it on a full refresh)
    silver_bytes: int   # silver.transactions' data files: a Gold update reads them all

    @property
    def small(self) -> bool:
        return (self.landing_bytes <= SMALL_LANDING_BYTES
                and self.silver_bytes <= SMALL_SILVER_BYTES)

    def describe(self) -> str:
        return (f"{self.landing_bytes / 2**20:.1f} MB of new landing data, "
                f"{self.silver_bytes / 2**20:.1f} MB of Silver transactions: "
                + ("a small run" if self.small else "a large run"))


def estimate(settings: Settings, *, full_refresh: bool = False, gold: bool = True,
             reprocess: Reprocess | None = None) -> Workload:
    """What a run of Bronze -> Silver (and, with ``gold``, Silver -> Gold) would read."""
    lake = settings.lake()
    landing = pending_landing_bytes(settings, delta_io(None, lake), full_refresh=full_refresh,
                                    reprocess=reprocess)
    silver = data_bytes(lake, SILVER_TRANSACTIONS) if gold else 0
    return Workload(landing, silver)


def pipeline_spark(settings: Settings, *, full_refresh: bool = False, gold: bool = True,
                   progress: Callable[[str], None] | None = None,
                   reprocess: Reprocess | None = None) -> SparkSession:
    """The session of a pipeline run: ``get_spark`` writing the class archive, and asking
    whether the run is small (``estimate``, said in ``progress``) if it starts a local JVM with
    ``spark.jit: auto``. When the estimate finds landing data to load, which the run will gate,
    Great Expectations starts importing meanwhile (``QualityGates.preload``): 2 s of Python
    that overlap the JVM's start instead of the run's first Spark jobs (a 1 M lake's day: the
    whole process 1 s shorter)."""

    def small_run() -> bool:
        workload = estimate(settings, full_refresh=full_refresh, gold=gold,
                            reprocess=reprocess)
        if workload.landing_bytes:
            QualityGates.preload()
        message = (f"spark: {workload.describe()}, so the JVM compiles with "
                   + ("C1 only (spark.jit: quick)" if workload.small
                      else "C1 and C2 (spark.jit: peak)"))
        log.info(message)
        if progress is not None:
            progress(message)
        return workload.small

    return get_spark(settings.spark, write_archive=True, small_run=small_run)
