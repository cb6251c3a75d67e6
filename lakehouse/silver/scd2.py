"""Slowly changing dimension type 2: a validity interval per version of an entity."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCD_FIELDS = (
    T.StructField("valid_from", T.TimestampType()),
    T.StructField("valid_to", T.TimestampType()),
    T.StructField("is_current", T.BooleanType()),
)
SCD_COLUMNS = tuple(f.name for f in SCD_FIELDS)


def history_schema(versions: T.StructType) -> T.StructType:
    return T.StructType(list(versions.fields) + list(SCD_FIELDS))


def build_history(existing: DataFrame, key: tuple[str, ...], version_column: str,
                  landed_column: str | None = None) -> Callable[[DataFrame], DataFrame]:
    """Rebuild the history of every key present in the new versions.

    Each version is valid from its ``version_column`` until the next version's; the last one is
    current. Late-arriving versions slot into place; a version seen again replaces the old copy,
    unless (``landed_column``: when each copy landed) the old copy landed after it: a file
    reprocessed or replayed from Bronze does not undo a later correction of a version.
    ``existing`` is the whole history table; only keys present in the new versions are returned.
    """

    def transform(versions: DataFrame) -> DataFrame:
        touched = versions.select(*key).distinct()
        before = existing.join(touched, list(key), "left_semi").drop(*SCD_COLUMNS)
        # one copy of each version: the last landed, the new one on a tie (or without
        # ``landed_column``)
        copies = (before.withColumn("_new", F.lit(False))
                  .unionByName(versions.withColumn("_new", F.lit(True))))
        order = [F.col("_new").desc()]
        if landed_column is not None:
            order.insert(0, F.col(landed_column).desc_nulls_last())
        last = Window.partitionBy(*key, version_column).orderBy(*order)
        every = (copies.withColumn("_n", F.row_number().over(last)).where("_n = 1")
                 .drop("_n", "_new"))
        timeline = Window.partitionBy(*key).orderBy(version_column)
        valid_to = F.lead(version_column).over(timeline)
        return (every
                .withColumn("valid_from", F.col(version_column))
                .withColumn("valid_to", valid_to)
                .withColumn("is_current", valid_to.isNull()))

    return transform


def current_versions(history: DataFrame) -> DataFrame:
    """The current version of each key, without the validity columns."""
    return history.where("is_current").drop(*SCD_COLUMNS)
