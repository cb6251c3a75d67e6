"""Unit-level regression tests for the library bugs the reliability battery found (each one is
also covered end to end by a corpus case or a killed run; these point at the exact cause)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import load_settings
from lakehouse.io.landing import CORRUPT, LANDED_AT, SOURCE_FILE, LandingEntry, bronze_column
from lakehouse.io.landing import fingerprint as fingerprint_file
from lakehouse.pii.card import mask_pan as mask_pan_python
from lakehouse.pii.columns import KeyedToken, mask_pan
from lakehouse.pipeline.bronze_to_silver import _Manifest, _select
from lakehouse.reference import load_reference_values
from lakehouse.silver.batch import classify, to_quarantine
from lakehouse.silver.fields import REASONS, parse_fields
from tests.reliability.card_scan import card_numbers

pytestmark = pytest.mark.usefixtures("one_shuffle_partition")

SETTINGS = load_settings(environ={})
SOURCE = SETTINGS.sources["transactions"]
RAW = [bronze_column(c.name) for c in SOURCE.stored_layout]
CLEAN = {"trans_date_trans_time": "2024-01-05 10:00:00", "cc_num": "4111111111111111",
         "merchant": "fraud_Kirlin and Sons", "category": "grocery_pos", "amt": "12.50",
         "first": "Ann", "last": "Lee", "gender": "F", "street": "1 Main St", "city": "Boston",
         "state": "MA", "zip": "02108", "lat": "42.36", "long": "-71.05", "city_pop": "650000",
         "job": "Nurse", "dob": "1980-01-01", "trans_num": "t1", "unix_time": "1704448800",
         "merch_lat": "42.0", "merch_long": "-71.5", "is_fraud": "0"}
AT = datetime(2024, 1, 6, tzinfo=UTC)
SCHEMA = T.StructType([T.StructField(c, T.StringType()) for c in RAW] + [
    T.StructField(CORRUPT, T.StringType()), T.StructField(SOURCE_FILE, T.StringType()),
    T.StructField("ingest_run_id", T.StringType()), T.StructField("ingested_at", T.TimestampType()),
    T.StructField(LANDED_AT, T.TimestampType())])


def parse(spark, *rows: dict, corrupt: str | None = None):
    data = [(*({**CLEAN, **row}.get(c) for c in RAW), corrupt, "transactions/a.csv", "run-1",
             AT, AT) for row in rows]
    frame = spark.createDataFrame(data, SCHEMA)
    return frame.transform(parse_fields(SOURCE, load_reference_values(SETTINGS.reference_dir),
                                        KeyedToken(spark, b"k" * 32)))


def test_values_padded_with_tabs_and_line_breaks_are_trimmed(spark):
    row = parse(spark, {"amt": "\t14.50", "is_fraud": "0\r", "category": " grocery_pos\t"}).first()
    assert list(row[REASONS]) == []
    assert str(row.amount) == "14.50"


def test_bytes_the_encoding_could_not_decode_make_the_row_malformed(spark):
    row = parse(spark, {"merchant": "Caf\ufffd Cr\ufffdme"}).first()
    assert list(row[REASONS]) == ["malformed_row"]


def test_a_card_number_in_a_free_text_column_is_masked_in_the_raw_values(spark):
    row = parse(spark, {"merchant": "paid 5555 5555 5555 4444", "amt": "-5"}).transform(
        classify(("trans_id",))).transform(to_quarantine(("trans_id",))).first()
    assert list(row.reasons) == ["amount_out_of_range"]
    raw = json.loads(row.raw)
    assert card_numbers(row.raw) == []
    assert raw["merchant"].endswith("4444") and raw["amt"] == "-5" and raw["city"] == "Boston"


def test_a_malformed_rows_shifted_values_are_not_kept_by_column(spark):
    """A short CSV row shifts the card number into the timestamp column and names into others:
    only its redacted line is kept."""
    values = [CLEAN[c] for c in RAW]
    shifted = dict(zip(RAW, values[1:] + [None], strict=True))
    row = parse(spark, shifted, corrupt=",".join(values[1:])).transform(
        classify(("trans_id",))).transform(to_quarantine(("trans_id",))).first()
    assert "malformed_row" in row.reasons
    raw = json.loads(row.raw)
    assert list(raw) == ["_line"], "no value by column (nulls are left out of the JSON)"
    assert card_numbers(row.raw) == []
    assert "****1111" in raw["_line"]


def test_a_card_number_in_the_key_is_masked_in_the_quarantine(spark):
    parsed = parse(spark, {"trans_num": "4012888888881881", "amt": "-5"})
    quarantine = parsed.transform(classify(("trans_id",))).transform(to_quarantine(("trans_id",)))
    assert [r.natural_key for r in quarantine.collect()] == ["trans_id=************1881"]


@pytest.mark.parametrize("value", ["\u0664" + "1" * 15, "\uff14\uff11" + "\uff11" * 14])
def test_card_numbers_in_any_script_are_masked_like_the_python_helper(spark, value):
    masked = spark.createDataFrame([(value,)], "v string").select(mask_pan(F.col("v"))).first()[0]
    assert masked == mask_pan_python(value) == "*" * 12 + value[-4:]


def test_gzip_bytes_under_a_plain_name_are_rejected(tmp_path):
    path = tmp_path / "transactions" / "day.csv"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b"trans_num\nt1\n"))
    entry = LandingEntry(str(path), "transactions/day.csv", path.stat().st_size, AT)
    assert fingerprint_file(SOURCE, entry).problem == "gzip content in a file not named .gz"
    path.write_bytes(b"\x1fnot gzip\n")
    entry = LandingEntry(str(path), "transactions/day.csv", path.stat().st_size, AT)
    assert fingerprint_file(SOURCE, entry).problem is None


def test_files_a_crashed_run_left_in_bronze_are_replayed_not_appended_again(tmp_path):
    folder = tmp_path / "transactions"
    folder.mkdir()
    (folder / "a.csv").write_text("trans_num\nt1\n")
    (folder / "b.csv").write_text("trans_num\nt2\n")
    entries = [LandingEntry(str(folder / n), f"transactions/{n}", 14, AT)
               for n in ("a.csv", "b.csv")]
    hashes = {e.relative: fingerprint_file(SOURCE, e).content_hash for e in entries}
    unrecorded = {("transactions/a.csv", hashes["transactions/a.csv"]): "crashed-run",
                  ("transactions/b.csv", "another content"): "crashed-run"}
    batch = _select(SOURCE, entries, _Manifest.empty(), "this-run", AT, unrecorded)
    assert [(f.relative, run) for f, run in batch.replay] == [("transactions/a.csv",
                                                                "crashed-run")]
    assert [f.relative for f in batch.new] == ["transactions/b.csv"], "changed since: new"
