"""Batch-level rules: duplicates within a batch, and the split into clean and quarantined rows."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.landing import LANDED_AT, SOURCE_FILE
from lakehouse.pii import columns as pii
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
    """Tag each row clean, quarantined or duplicate, so that a batch of several files gives the
    same Silver as loading those files one run at a time, in landing order.

    For rows that pass every rule, per natural key: a file holding different records for the key
    is conflicting, and those rows are quarantined as ``duplicate_in_batch`` (nothing says which
    is right); the latest-landed file that does not conflict wins; rows of earlier files are
    superseded and, like further copies of the winning record, skipped as duplicates.
    """

    def transform(df: DataFrame) -> DataFrame:
        passes = F.size(REASONS) == 0
        arrival = F.struct(LANDED_AT, SOURCE_FILE)
        in_file = Window.partitionBy(*key, SOURCE_FILE)
        conflict = passes & (F.size(F.collect_set(F.when(passes, F.col(RAW_HASH)))
                                    .over(in_file)) > 1)
        by_key = Window.partitionBy(*key)
        winner = F.max(F.when(passes & ~conflict, arrival)).over(by_key)
        wins = passes & ~conflict & (arrival == winner)
        first = F.row_number().over(by_key.orderBy(F.desc(wins), RAW_HASH, SOURCE_FILE)) == 1
        reasons = F.when(conflict, F.array_union(REASONS, F.array(F.lit(
            rules.DUPLICATE_IN_BATCH)))).otherwise(F.col(REASONS))
        outcome = (F.when(F.size(reasons) > 0, F.lit(QUARANTINED))
                   .when(wins & first, F.lit(CLEAN))
                   .otherwise(F.lit(DUPLICATE)))
        # raw values are kept for the quarantine only: the rest of the batch does not carry
        # them on (a third of its size) nor has them scanned for card numbers
        return (df.withColumn(REASONS, reasons).withColumn(OUTCOME, outcome)
                .withColumn(RAW_REDACTED, F.when(F.col(OUTCOME) == QUARANTINED,
                                                 F.col(RAW_REDACTED))))

    return transform


def to_quarantine(key: tuple[str, ...]) -> Callable[[DataFrame], DataFrame]:
    """Quarantined rows in the quarantine table's shape: reasons, masked raw values, lineage."""

    def transform(df: DataFrame) -> DataFrame:
        natural_key = F.concat_ws("|", *[F.concat(F.lit(f"{k}="), F.col(k).cast("string"))
                                          for k in key])
        # a card number sent in a key field (or shifted into it) is masked like any other
        natural_key = F.when(pii.contains_pan(natural_key), pii.mask_pan(natural_key)
                             ).otherwise(natural_key)
        return df.where(F.col(OUTCOME) == QUARANTINED).select(
            "source",
            natural_key.alias("natural_key"),
            F.array_sort(REASONS).alias("reasons"),
            F.col(RAW_REDACTED).alias("raw"),
            "source_file", "ingest_run_id", "ingested_at",
        )

    return transform
