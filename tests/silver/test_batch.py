"""Batch rules: exact duplicates skipped, conflicting versions quarantined, quarantine shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.pii.card import redact_pans
from lakehouse.silver.batch import (
    CLEAN,
    DUPLICATE,
    OUTCOME,
    QUARANTINE_SCHEMA,
    QUARANTINED,
    classify,
    to_quarantine,
)
from tests.reliability.card_scan import card_numbers

SCHEMA = T.StructType([
    T.StructField("id", T.StringType()),
    T.StructField("reasons", T.ArrayType(T.StringType())),
    T.StructField("raw_hash", T.StringType()),
    # as the parse writes them: a struct of text (``classify`` keeps it as JSON)
    T.StructField("raw_values", T.StructType([T.StructField("raw", T.StringType()),
                                              T.StructField("job", T.StringType())])),
    T.StructField("source", T.StringType()),
    T.StructField("source_file", T.StringType()),
    T.StructField("ingest_run_id", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
    T.StructField("landed_at", T.TimestampType()),
])
RUN_AT = datetime(2024, 1, 16, 1, tzinfo=UTC)
DAY1, DAY2 = datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 1, 16, tzinfo=UTC)


def parsed(spark, *rows):
    """Rows of (id, reasons, raw_hash, source_file, landed_at)."""
    return spark.createDataFrame(
        [(key, reasons, raw_hash, {"raw": raw_hash}, "tx", file, "run-1", RUN_AT, landed)
         for key, reasons, raw_hash, file, landed in rows], SCHEMA)


def outcomes(df):
    """(id, raw_hash, source_file, sorted reasons, outcome) per row, for comparison."""
    return df.transform(classify(("id",))).select(
        "id", "raw_hash", "source_file", F.array_sort("reasons").alias("reasons"), OUTCOME)


def expect(spark, df, *rows):
    return spark.createDataFrame(list(rows), df.schema)


def test_exact_duplicates_keep_one_clean_row(spark):
    df = outcomes(parsed(spark, ("a", [], "h1", "f1.csv", DAY1), ("a", [], "h1", "f1.csv", DAY1),
                         ("a", [], "h1", "f1.csv", DAY1), ("b", [], "h2", "f1.csv", DAY1)))
    counts = {r[OUTCOME]: r["count"] for r in
              df.where(F.col("id") == "a").groupBy(OUTCOME).count().collect()}
    assert counts == {CLEAN: 1, DUPLICATE: 2}
    assert df.where(F.col("id") == "b").first()[OUTCOME] == CLEAN
    assert df.where(F.size("reasons") > 0).count() == 0


def test_different_records_for_one_key_in_a_file_are_all_quarantined(spark):
    df = outcomes(parsed(spark, ("a", [], "h1", "f1.csv", DAY1), ("a", [], "h2", "f1.csv", DAY1),
                         ("a", [], "h2", "f1.csv", DAY1), ("b", [], "h3", "f1.csv", DAY1)))
    expected = expect(spark, df,
                      ("a", "h1", "f1.csv", ["duplicate_in_batch"], QUARANTINED),
                      ("a", "h2", "f1.csv", ["duplicate_in_batch"], QUARANTINED),
                      ("a", "h2", "f1.csv", ["duplicate_in_batch"], QUARANTINED),
                      ("b", "h3", "f1.csv", [], CLEAN))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_rejected_row_does_not_conflict_with_a_clean_one(spark):
    df = outcomes(parsed(spark, ("a", ["bad_number"], "h1", "f1.csv", DAY1),
                         ("a", [], "h2", "f1.csv", DAY1),
                         ("a", ["bad_date", "bad_number"], "h3", "f1.csv", DAY1)))
    expected = expect(spark, df,
                      ("a", "h1", "f1.csv", ["bad_number"], QUARANTINED),
                      ("a", "h2", "f1.csv", [], CLEAN),
                      ("a", "h3", "f1.csv", ["bad_date", "bad_number"], QUARANTINED))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_rows_with_null_keys_stay_quarantined_without_a_conflict(spark):
    df = outcomes(parsed(spark, (None, ["missing_key"], "h1", "f1.csv", DAY1),
                         (None, ["missing_key"], "h2", "f1.csv", DAY1),
                         ("a", [], "h3", "f1.csv", DAY1)))
    expected = expect(spark, df,
                      (None, "h1", "f1.csv", ["missing_key"], QUARANTINED),
                      (None, "h2", "f1.csv", ["missing_key"], QUARANTINED),
                      ("a", "h3", "f1.csv", [], CLEAN))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_landed_file_wins_over_an_earlier_one(spark):
    # loading day 1 then day 2 in two runs would leave day 2's record: one batch must agree
    df = outcomes(parsed(spark, ("a", [], "h2", "day2.csv", DAY2),
                         ("a", [], "h1", "day1.csv", DAY1)))
    expected = expect(spark, df,
                      ("a", "h2", "day2.csv", [], CLEAN),
                      ("a", "h1", "day1.csv", [], DUPLICATE))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_conflicting_later_file_leaves_the_earlier_record_in_place(spark):
    df = outcomes(parsed(spark, ("a", [], "h1", "day1.csv", DAY1),
                         ("a", [], "h2", "day2.csv", DAY2), ("a", [], "h3", "day2.csv", DAY2)))
    expected = expect(spark, df,
                      ("a", "h1", "day1.csv", [], CLEAN),
                      ("a", "h2", "day2.csv", ["duplicate_in_batch"], QUARANTINED),
                      ("a", "h3", "day2.csv", ["duplicate_in_batch"], QUARANTINED))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_rejected_row_sorting_first_in_the_winning_file_does_not_hide_its_record(spark):
    # the rejected row's hash sorts before the record's: the record must still be kept once
    df = outcomes(parsed(spark, ("a", ["bad_number"], "h0", "day2.csv", DAY2),
                         ("a", [], "h5", "day2.csv", DAY2), ("a", [], "h5", "day2.csv", DAY2),
                         ("a", [], "h4", "day1.csv", DAY1)))
    expected = expect(spark, df,
                      ("a", "h0", "day2.csv", ["bad_number"], QUARANTINED),
                      ("a", "h5", "day2.csv", [], CLEAN),
                      ("a", "h5", "day2.csv", [], DUPLICATE),
                      ("a", "h4", "day1.csv", [], DUPLICATE))
    assert_df_equality(df, expected, ignore_row_order=True, ignore_nullable=True)


def test_every_row_gets_exactly_one_outcome(spark):
    df = parsed(spark, ("a", [], "h1", "f1.csv", DAY1), ("a", [], "h1", "f1.csv", DAY1),
                ("b", [], "h2", "f1.csv", DAY1), ("b", [], "h3", "f1.csv", DAY1),
                ("c", ["bad_date"], "h4", "f1.csv", DAY1))
    counts = {r[OUTCOME]: r["count"]
              for r in df.transform(classify(("id",))).groupBy(OUTCOME).count().collect()}
    assert counts == {CLEAN: 1, DUPLICATE: 1, QUARANTINED: 3}


def test_to_quarantine_keeps_quarantined_rows_in_the_quarantine_shape(spark):
    df = parsed(spark, ("a", ["bad_number", "bad_date"], "h1", "f1.csv", DAY1),
                ("b", [], "h2", "f1.csv", DAY1), ("c", [], "h3", "f1.csv", DAY1),
                ("c", [], "h4", "f1.csv", DAY1))
    quarantine = df.transform(classify(("id",))).transform(to_quarantine(("id",)))
    expected = spark.createDataFrame([
        ("tx", "id=a", ["bad_date", "bad_number"], '{"raw":"h1"}', "f1.csv", "run-1", RUN_AT),
        ("tx", "id=c", ["duplicate_in_batch"], '{"raw":"h3"}', "f1.csv", "run-1", RUN_AT),
        ("tx", "id=c", ["duplicate_in_batch"], '{"raw":"h4"}', "f1.csv", "run-1", RUN_AT),
    ], QUARANTINE_SCHEMA)
    assert_df_equality(quarantine, expected, ignore_row_order=True, ignore_nullable=True)


def test_to_quarantine_names_a_composite_key(spark):
    # a classified batch: its raw values are JSON by now
    classified = [T.StructField(f.name, T.StringType()) if f.name == "raw_values" else f
                  for f in SCHEMA.fields[1:]]
    schema = T.StructType([T.StructField("customer_id", T.StringType()),
                           T.StructField("updated_at", T.TimestampType()),
                           *classified, T.StructField(OUTCOME, T.StringType())])
    df = spark.createDataFrame([
        ("C1", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), ["bad_date"], "h1", "{}", "customers",
         "f.json", "run-1", RUN_AT, DAY1, QUARANTINED),
        ("C2", None, ["missing_key"], "h2", "{}", "customers", "f.json", "run-1", RUN_AT, DAY1,
         QUARANTINED),
    ], schema)
    keys = [r.natural_key for r in
            df.transform(to_quarantine(("customer_id", "updated_at"))).collect()]
    assert sorted(keys) == ["customer_id=C1|updated_at=2024-01-02 03:04:05", "customer_id=C2"]


def test_the_quarantine_masks_card_numbers_in_raw_values_of_conflicting_versions_too(spark):
    """A card number typed into a free-text column (here grouped, which the parse's own
    masking of digit runs misses) is masked in every row the quarantine keeps: a rejected row,
    and conflicting versions of one key, which pass every rule. Rows not quarantined carry no
    raw values on."""
    job = '{"job":"Nurse, card %s"}'
    rows = [("a", ["bad_number"], "h1", job % "5555 5555 5555 4444"),
            ("b", [], "h2", job % "4111-1111-1111-1111"),
            ("b", [], "h3", job % "none"),
            ("c", [], "h4", job % "4012 8888 8888 1881")]
    df = spark.createDataFrame(
        [(key, reasons, raw_hash, json.loads(raw), "tx", "f1.csv", "run-1", RUN_AT, DAY1)
         for key, reasons, raw_hash, raw in rows], SCHEMA)
    classified = df.transform(classify(("id",)))
    assert {r.raw_hash: (r[OUTCOME], r.raw_values is None) for r in classified.collect()} == {
        "h1": (QUARANTINED, False), "h2": (QUARANTINED, False), "h3": (QUARANTINED, False),
        "h4": (CLEAN, True)}
    kept = sorted(r.raw for r in classified.transform(to_quarantine(("id",))).collect())
    assert kept == sorted(redact_pans(raw) for _, _, h, raw in rows if h != "h4")
    assert [card_numbers(raw) for raw in kept] == [[], [], []]
    assert '{"job":"Nurse, card ****-****-****-1111"}' in kept
