"""add_up: a batch's aggregates added to a table's, per key."""

from __future__ import annotations

from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import types as T

from lakehouse.gold.additive import add_up

SCHEMA = "day string, state string, n long, spend decimal(18,2), note string"


def test_sums_are_added_per_key_and_a_null_key_is_one_group(spark):
    current = spark.createDataFrame([
        ("d1", "TX", 2, Decimal("10.00"), "x"), ("d1", None, 1, Decimal("1.50"), "x"),
        ("d2", "TX", 5, Decimal("0.01"), "x")], SCHEMA)
    batch = spark.createDataFrame([
        ("d1", "TX", 1, Decimal("2.25"), "y"), ("d1", None, 3, Decimal("0.50"), "y"),
        ("d3", "OR", 1, Decimal("7.00"), "y")], SCHEMA)
    result = add_up(current, batch, ["day", "state"],
                    {"n": T.LongType(), "spend": T.DecimalType(18, 2)})
    expected = spark.createDataFrame([
        ("d1", "TX", 3, Decimal("12.25")), ("d1", None, 4, Decimal("2.00")),
        ("d2", "TX", 5, Decimal("0.01")), ("d3", "OR", 1, Decimal("7.00"))],
        "day string, state string, n long, spend decimal(18,2)")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_batch_of_the_same_lineage_adds_only_to_its_own_keys(spark):
    # the batch's keys are columns of the very frame added to: the join must still tell the
    # two sides apart (an ambiguous condition would match every row, or none)
    current = spark.createDataFrame([
        ("d1", "TX", 2, Decimal("10.00"), "x"), ("d2", None, 5, Decimal("0.01"), "x")], SCHEMA)
    batch = current.where("day = 'd2'")
    result = add_up(current, batch, ["day", "state"],
                    {"n": T.LongType(), "spend": T.DecimalType(18, 2)})
    expected = spark.createDataFrame([
        ("d1", "TX", 2, Decimal("10.00")), ("d2", None, 10, Decimal("0.02"))],
        "day string, state string, n long, spend decimal(18,2)")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)
