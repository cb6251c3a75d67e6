"""Batch-level rules: duplicates within a batch, and the split into clean and quarantined rows."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.landing import SOURCE_FILE
from lakehouse.silver import rules
from lakehouse.silver.fields import RAW_HASH, RAW_REDACTED, REASONS

OUTCOME = "outcome"
CLEAN, QUARANTINED, DUPLICATE = "clean", "quarantined", "duplicate"

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("natural_key", T.StringType()),
    T.StructField("reasons", T.ArrayType(T.StringType())),
    T.StructField("raw", T.StringType()),
    T.StructField("source_file", T.StringType()),
    T.StructField("ingest_run_id", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
])


def classify(key: tuple[str, ...]) -> Callable[[DataFrame], DataFrame]:
    """Tag each row clean, quarantined or duplicate.

    Among rows that pass every rule: copies of the same raw record beyond the first are exact
    duplicates and skipped; different records under one natural key are all quarantined as
    ``duplicate_in_batch``, since nothing says which one is right.
    """

    def transform(df: DataFrame) -> DataFrame:
        passes = F.size(REASONS) == 0
        by_key = Window.partitionBy(*key)
        versions = F.size(F.collect_set(F.when(passes, F.col(RAW_HASH))).over(by_key))
        conflict = passes & (versions > 1)
        reasons = F.when(conflict, F.array_union(REASONS, F.array(F.lit(
            rules.DUPLICATE_IN_BATCH)))).otherwise(F.col(REASONS))
        first = F.row_number().over(by_key.orderBy(F.size(REASONS), SOURCE_FILE, RAW_HASH)) == 1
        outcome = (F.when(F.size(reasons) > 0, F.lit(QUARANTINED))
                   .when(first, F.lit(CLEAN))
                   .otherwise(F.lit(DUPLICATE)))
        return df.withColumn(REASONS, reasons).withColumn(OUTCOME, outcome)

    return transform


def to_quarantine(key: tuple[str, ...]) -> Callable[[DataFrame], DataFrame]:
    """Quarantined rows in the quarantine table's shape: reasons, masked raw values, lineage."""

    def transform(df: DataFrame) -> DataFrame:
        natural_key = F.concat_ws("|", *[F.concat(F.lit(f"{k}="), F.col(k).cast("string"))
                                          for k in key])
        return df.where(F.col(OUTCOME) == QUARANTINED).select(
            "source",
            natural_key.alias("natural_key"),
            F.array_sort(REASONS).alias("reasons"),
            F.col(RAW_REDACTED).alias("raw"),
            "source_file", "ingest_run_id", "ingested_at",
        )

    return transform
