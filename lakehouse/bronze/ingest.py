"""Bronze rows: the raw text of each landing row plus the run that ingested it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.io.lake import TableId


def bronze_table(source: str) -> TableId:
    return TableId("bronze", source)


def with_lineage(run_id: str, ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Stamp every raw row with the ingesting run and time (the file is already on the row)."""

    def transform(raw: DataFrame) -> DataFrame:
        return (raw.withColumn("ingest_run_id", F.lit(run_id))
                .withColumn("ingested_at", F.lit(ingested_at).cast("timestamp")))

    return transform
