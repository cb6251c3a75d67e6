"""SCD type 2 history: validity intervals, late arrivals, re-sent versions."""

from __future__ import annotations

from datetime import UTC, datetime

from chispa import assert_df_equality
from pyspark.sql import types as T

from lakehouse.silver.scd2 import build_history, current_versions, history_schema

VERSIONS = T.StructType([
    T.StructField("customer_id", T.StringType()),
    T.StructField("updated_at", T.TimestampType()),
    T.StructField("city", T.StringType()),
])
HISTORY = history_schema(VERSIONS)


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def versions(spark, *rows):
    return spark.createDataFrame([(c, day(d), city) for c, d, city in rows], VERSIONS)


def history(spark, *rows):
    """Rows of (customer, updated day, city, valid_to day or None)."""
    return spark.createDataFrame(
        [(c, day(d), city, day(d), None if to is None else day(to), to is None)
         for c, d, city, to in rows], HISTORY)


def rebuild(existing, new):
    return new.transform(build_history(existing, ("customer_id",), "updated_at")).select(
        *HISTORY.fieldNames())


def test_history_schema_adds_the_validity_columns():
    assert HISTORY.fieldNames() == ["customer_id", "updated_at", "city", "valid_from",
                                    "valid_to", "is_current"]


def test_new_customer_with_two_versions_in_one_batch(spark):
    result = rebuild(history(spark), versions(spark, ("C1", 3, "Austin"),
                                                     ("C1", 1, "Boston")))
    expected = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", None))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_newer_version_closes_the_current_one(spark):
    existing = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", None))
    result = rebuild(existing, versions(spark, ("C1", 5, "Denver")))
    expected = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", 5),
                       ("C1", 5, "Denver", None))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_late_version_slots_between_existing_ones(spark):
    existing = history(spark, ("C1", 1, "Boston", 5), ("C1", 5, "Denver", None))
    result = rebuild(existing, versions(spark, ("C1", 3, "Austin")))
    expected = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", 5),
                       ("C1", 5, "Denver", None))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_version_sent_again_replaces_the_old_copy(spark):
    existing = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", None))
    result = rebuild(existing, versions(spark, ("C1", 3, "Austin TX")))
    expected = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin TX", None))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_keys_not_in_the_batch_are_not_returned(spark):
    existing = history(spark, ("C1", 1, "Boston", None), ("C2", 1, "Miami", 2),
                       ("C2", 2, "Tampa", None))
    result = rebuild(existing, versions(spark, ("C1", 4, "Salem")))
    expected = history(spark, ("C1", 1, "Boston", 4), ("C1", 4, "Salem", None))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_current_versions_drops_closed_versions_and_validity_columns(spark):
    table = history(spark, ("C1", 1, "Boston", 3), ("C1", 3, "Austin", None),
                    ("C2", 2, "Miami", None))
    expected = versions(spark, ("C1", 3, "Austin"), ("C2", 2, "Miami"))
    assert_df_equality(current_versions(table), expected, ignore_row_order=True,
                       ignore_nullable=True)


LANDED = T.StructType([*VERSIONS.fields, T.StructField("ingested_at", T.TimestampType())])


def test_a_version_seen_again_replaces_the_old_copy_only_if_landed_no_earlier(spark):
    """With ``landed_column``: a re-sent version landed before the copy the history holds (a
    file reprocessed or replayed from Bronze) does not undo that later correction; one landed
    at the same time or later replaces it."""
    schema = history_schema(LANDED)
    existing = spark.createDataFrame(
        [("C1", day(1), "Boston (corrected)", day(20), day(1), day(3), False),
         ("C1", day(3), "Austin", day(10), day(3), None, True)], schema)
    new = spark.createDataFrame([("C1", day(1), "Boston", day(5)),       # landed before
                                 ("C1", day(3), "Austin TX", day(10)),   # landed at once
                                 ("C1", day(2), "Salem", day(4))], LANDED)  # a late version
    result = new.transform(build_history(existing, ("customer_id",), "updated_at",
                                         "ingested_at")).select(*schema.fieldNames())
    assert sorted((r.updated_at.day, r.city, r.valid_to and r.valid_to.day, r.is_current)
                  for r in result.collect()) == [
        (1, "Boston (corrected)", 2, False), (2, "Salem", 3, False), (3, "Austin TX", None, True)]
