"""Column parsers and checks behind the Silver reason codes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

from chispa import assert_column_equality
from pyspark.sql import functions as F

from lakehouse.silver.rules import (
    WHITESPACE,
    blank_to_null,
    parse_boolean,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_timestamp,
    reason_if,
)

FORMATS = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssXXX")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_parse_integer_accepts_whole_numbers_only(spark):
    df = spark.createDataFrame([
        ("12", 12), ("12.0", 12), ("12.", 12), ("+7", 7), ("-3", -3), ("2147483647", 2147483647),
        ("12.5", None), ("abc", None), ("1e3", None), ("", None), (None, None),
    ], "text string, expected int").withColumn("value", parse_integer(F.col("text"), "int"))
    assert_column_equality(df, "value", "expected")


def test_parse_integer_as_long(spark):
    df = spark.createDataFrame([("99999999999", 99999999999), ("-0", 0), ("1.5", None)],
                               "text string, expected long")
    assert_column_equality(df.withColumn("value", parse_integer(F.col("text"), "long")),
                           "value", "expected")


def test_parse_integer_overflow_is_null(spark):
    df = spark.createDataFrame([
        ("2147483648", "int"), ("99999999999", "int"), ("9223372036854775808", "long"),
    ], "text string, kind string")
    values = [row.value for row in df.select(
        F.when(F.col("kind") == "int", parse_integer(F.col("text"), "int").cast("long"))
        .otherwise(parse_integer(F.col("text"), "long")).alias("value")).collect()]
    assert values == [None, None, None]


def test_parse_decimal(spark):
    df = spark.createDataFrame([
        ("12.5", Decimal("12.50")), ("-0.5", Decimal("-0.50")), (".5", Decimal("0.50")),
        ("1e3", Decimal("1000.00")), ("1.005", Decimal("1.01")),  # rounded half up to the scale
        ("12345678901.00", None),   # too wide for decimal(12,2)
        ("12,50", None), ("abc", None), ("NaN", None), (".", None), (None, None),
    ], "text string, expected decimal(12,2)").withColumn(
        "value", parse_decimal(F.col("text"), "decimal(12,2)"))
    assert_column_equality(df, "value", "expected")


def test_parse_decimal_as_double_rejects_special_values(spark):
    df = spark.createDataFrame([("1.25", 1.25), ("-1E2", -100.0), ("Infinity", None),
                                ("NaN", None), ("1.2.3", None)], "text string, expected double")
    assert_column_equality(df.withColumn("value", parse_decimal(F.col("text"), "double")),
                           "value", "expected")


def test_parse_boolean_accepts_every_spelling(spark):
    df = spark.createDataFrame([
        ("1", True), ("true", True), ("TRUE", True), ("t", True), ("Yes", True), ("y", True),
        ("0", False), ("false", False), ("F", False), ("no", False), ("N", False),
        ("maybe", None), ("2", None), ("", None), (None, None),
    ], "text string, expected boolean").withColumn("value", parse_boolean(F.col("text")))
    assert_column_equality(df, "value", "expected")


def test_parse_timestamp_tries_each_format_in_utc(spark):
    df = spark.createDataFrame([
        ("2024-01-15 10:00:00", utc(2024, 1, 15, 10)),
        ("2024-01-15T10:00:00", utc(2024, 1, 15, 10)),
        ("2024-07-15T10:00:00+02:00", utc(2024, 7, 15, 8)),
        ("2024-01-15 10:00", None),
        ("15/01/2024 10:00:00", None),
        ("2024-02-30 10:00:00", None),
        (None, None),
    ], "text string, expected timestamp").withColumn(
        "value", parse_timestamp(F.col("text"), FORMATS, "UTC"))
    assert_column_equality(df, "value", "expected")


def test_parse_timestamp_reads_naive_values_in_the_source_zone(spark):
    df = spark.createDataFrame([
        ("2024-01-15 10:00:00", utc(2024, 1, 15, 15)),         # EST, UTC-5
        ("2024-07-15 10:00:00", utc(2024, 7, 15, 14)),         # EDT, UTC-4
        ("2024-01-15 22:30:00", utc(2024, 1, 16, 3, 30)),      # crosses midnight UTC
        ("2024-07-15T10:00:00-04:00", utc(2024, 7, 15, 14)),   # zoned: not shifted again
        ("2024-07-15T10:00:00Z", utc(2024, 7, 15, 10)),
    ], "text string, expected timestamp").withColumn(
        "value", parse_timestamp(F.col("text"), FORMATS, "America/New_York"))
    assert_column_equality(df, "value", "expected")


def test_parse_timestamp_with_a_quoted_zone_letter_is_not_zoned(spark):
    # 'Z' inside quotes is a literal, so the value is naive and read in the source's zone
    df = spark.createDataFrame([("2024-01-15T10:00:00Z", utc(2024, 1, 15, 15))],
                               "text string, expected timestamp").withColumn(
        "value", parse_timestamp(F.col("text"), ("yyyy-MM-dd'T'HH:mm:ss'Z'",), "America/New_York"))
    assert_column_equality(df, "value", "expected")


def _near_misses(valid: list[str], count: int, seed: int) -> list[str]:
    """Valid values, and those values with a character replaced, dropped or added."""
    rng = random.Random(seed)
    alphabet = "0123456789-: T+Z.\u0661x"
    texts = list(valid)
    for _ in range(count):
        text = list(rng.choice(valid))
        at = rng.randrange(len(text))
        change = rng.random()
        if change < 0.6:
            text[at] = rng.choice(alphabet)
        elif change < 0.8:
            del text[at]
        else:
            text.insert(at, rng.choice(alphabet))
        texts.append("".join(text))
    return texts


def test_timestamps_read_by_the_cast_as_by_their_pattern(spark):
    # the shapes the cast reads (rules._CAST_SHAPES) give what the pattern's formatter gives
    valid = ["2024-01-15 10:00:00", "2024-02-29 23:59:59", "2023-02-29 10:00:00",
             "2024-13-01 10:00:00", "2024-04-31 10:00:00", "2024-01-15 24:00:00",
             "2024-01-15 23:60:00", "2024-01-15 23:59:60", "1970-01-01 00:00:00",
             "2100-12-31 23:59:59", "12024-01-15 10:00:00", "+2024-01-15 10:00:00",
             "2024-01-15T10:00:00", "2024-1-15 10:00:00", "2024-01-15 10:00:00.5",
             "2024-01-15 10:00", "2024-01-15", "2024-01-15 10:00:00Z", "0000-01-01 00:00:00"]
    texts = _near_misses(valid, 1500, 3)
    formats = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss")
    formatter = F.coalesce(*[F.to_timestamp(F.col("text"), p) for p in formats])
    year = F.year(formatter)
    expected = F.when((year >= 1970) & (year <= 2100), formatter)
    df = (spark.createDataFrame([(t,) for t in texts], "text string")
          .select("text", parse_timestamp(F.col("text"), formats, "UTC").alias("value"),
                  expected.alias("expected")))
    assert_column_equality(df, "value", "expected")
    assert df.where(F.col("value").isNotNull()).count() > 50


def test_dates_read_by_the_cast_as_by_their_pattern(spark):
    valid = ["1990-02-28", "1992-02-29", "1990-02-29", "1990-13-01", "1990-00-10",
             "1990-06-31", "1900-01-01", "2100-12-31", "12024-01-15", "+1990-01-01",
             "1990-1-15", "1990-01-15 10:00:00", "1990-01-15T00:00", "0000-01-01"]
    texts = _near_misses(valid, 1500, 4)
    formatter = F.to_date(F.col("text"), "yyyy-MM-dd")
    year = F.year(formatter)
    expected = F.when((year >= 1900) & (year <= 2100), formatter)
    df = (spark.createDataFrame([(t,) for t in texts], "text string")
          .select("text", parse_date(F.col("text"), ("yyyy-MM-dd",)).alias("value"),
                  expected.alias("expected")))
    assert_column_equality(df, "value", "expected")
    assert df.where(F.col("value").isNotNull()).count() > 50


def test_parse_timestamp_rejects_implausible_years(spark):
    df = spark.createDataFrame([
        ("1969-12-31 23:59:59", None), ("1970-01-01 00:00:00", utc(1970, 1, 1)),
        ("2100-12-31 23:59:59", utc(2100, 12, 31, 23, 59, 59)), ("2101-01-01 00:00:00", None),
        ("0024-01-15 10:00:00", None),
    ], "text string, expected timestamp").withColumn(
        "value", parse_timestamp(F.col("text"), FORMATS, "UTC"))
    assert_column_equality(df, "value", "expected")


def test_parse_date(spark):
    df = spark.createDataFrame([
        ("1990-02-28", date(1990, 2, 28)), ("1990-02-30", None), ("1990-13-01", None),
        ("03/04/1990", date(1990, 4, 3)), ("1900-01-01", date(1900, 1, 1)),
        ("1899-12-31", None), ("2101-01-01", None), ("1990-02-28 10:00:00", None),
        ("", None), (None, None),
    ], "text string, expected date").withColumn(
        "value", parse_date(F.col("text"), ("yyyy-MM-dd", "dd/MM/yyyy")))
    assert_column_equality(df, "value", "expected")


def test_blank_to_null_trims(spark):
    df = spark.createDataFrame([("  a b  ", "a b"), ("   ", None), ("", None), (None, None),
                                ("\t12.50\r", "12.50"), (" \t \r\n", None),
                                ("\u000b\f x \n ", "x"), (" \u00a0a ", "\u00a0a"),
                                ("\u0001a ", "\u0001a"), ("é \t", "é")],
                               "text string, expected string")
    assert_column_equality(df.withColumn("value", blank_to_null(F.col("text"))),
                           "value", "expected")


def test_blank_to_null_trims_as_a_trim_of_every_whitespace_character(spark):
    # the quick path (spaces first) must give what trimming the whole set gives, whatever the
    # mix of characters at either end
    rng = random.Random(7)
    alphabet = [" ", "\t", "\r", "\n", "\f", "\u000b", "a", "é", "\u0001", "\u00a0", "7"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
             for _ in range(400)]
    expected = [t.strip(WHITESPACE) or None for t in texts]
    df = spark.createDataFrame(list(zip(texts, expected, strict=True)),
                               "text string, expected string")
    assert_column_equality(df.withColumn("value", blank_to_null(F.col("text"))),
                           "value", "expected")


def test_reason_if_treats_a_null_condition_as_false(spark):
    df = spark.createDataFrame([(5, "too_big"), (1, None), (None, None)],
                               "n int, expected string")
    assert_column_equality(df.withColumn("reason", reason_if(F.col("n") > 3, "too_big")),
                           "reason", "expected")
