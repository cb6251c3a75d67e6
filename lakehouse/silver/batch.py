"""Batch-level rules: duplicates within a batch, and the split into clean and quarantined rows."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.landing import LANDED_AT, SOURCE_FILE
from lakehouse.pii import columns as pii
from lakehouse.silver import rules
from lakehouse.silver.fields import RAW_HASH, RAW_VALUES, REASONS

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
        by_key = Window.partitionBy(*key)
        # One sort serves every window below (each needs a prefix of it). Left to Spark, the
        # rows (all their parsed columns) were sorted twice, and each window that two
        # expressions share was computed twice.
        ordered = df.sortWithinPartitions(*key, SOURCE_FILE, passes.desc(), RAW_HASH)
        conflict = passes & (F.size(F.collect_set(F.when(passes, F.col(RAW_HASH)))
                                    .over(in_file)) > 1)
        # the rows of one file that pass and do not conflict share one record: the first is kept
        first_in_file = F.row_number().over(in_file.orderBy(passes.desc(), RAW_HASH)) == 1
        flagged = ordered.withColumn(_CONFLICT, conflict).withColumn(_FIRST, first_in_file)
        eligible = passes & ~F.col(_CONFLICT)
        winner = F.max(F.when(eligible, arrival)).over(by_key)
        wins = eligible & (arrival == winner)
        reasons = F.when(F.col(_CONFLICT), F.array_union(REASONS, F.array(F.lit(
            rules.DUPLICATE_IN_BATCH)))).otherwise(F.col(REASONS))
        outcome = (F.when(F.size(reasons) > 0, F.lit(QUARANTINED))
                   .when(wins & F.col(_FIRST), F.lit(CLEAN))
                   .otherwise(F.lit(DUPLICATE)))
        # raw values (the parse's struct) are kept for the quarantine only, as JSON
        # (``to_quarantine`` redacts them): the rest of the batch does not carry them on (a
        # third of its size), nor is it written as JSON
        return (flagged.withColumn(REASONS, reasons).withColumn(OUTCOME, outcome)
                .withColumn(RAW_VALUES, F.when(F.col(OUTCOME) == QUARANTINED,
                                               F.to_json(F.col(RAW_VALUES))))
                .drop(_CONFLICT, _FIRST))

    return transform


_CONFLICT, _FIRST = "__conflict", "__first_in_file"


def to_quarantine(key: tuple[str, ...]) -> Callable[[DataFrame], DataFrame]:
    """Quarantined rows in the quarantine table's shape: reasons, redacted raw values, lineage.

    Every card number in the raw values is masked here, in every row the quarantine keeps: one
    typed into a free-text column, a grouped one in a malformed line, and those of conflicting
    versions of a key, which pass every rule (the parse cannot know which rows those are). The
    precise redaction runs in Python (``redact_card_numbers``), over these rows only."""

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
            pii.redact_card_numbers(F.col(RAW_VALUES)).alias("raw"),
            "source_file", "ingest_run_id", "ingested_at",
        )

    return transform
