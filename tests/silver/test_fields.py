"""parse_fields: Bronze text -> typed Silver fields, reason codes, tokens, raw values."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import SourceConfig
from lakehouse.errors import ConfigError
from lakehouse.io.landing import CORRUPT, LANDED_AT, SOURCE_FILE, bronze_column
from lakehouse.pii.columns import KeyedToken, digits_only, mask_pan, pan_hits
from lakehouse.runtime.spark import spark_jobs_started
from lakehouse.silver import batch
from lakehouse.silver.batch import OUTCOME, QUARANTINED, classify, to_quarantine
from lakehouse.silver.fields import (
    RAW_HASH,
    RAW_VALUES,
    REASONS,
    check_parsing,
    output_columns,
    parse_fields,
    unscanned_columns,
)
from tests.reliability.card_scan import card_numbers

KEY = b"k" * 32
PAN = "4111111111111111"
REASON_REFERENCES = {"merchant_categories": frozenset({"grocery_pos", "travel"})}

SOURCE = SourceConfig.model_validate({
    "name": "cards",
    "entity": "cards",
    "format": "csv",
    "natural_key": ["txn_id"],
    "layout": [
        "txn_id",
        {"name": "cc_num", "pii": "pan"},
        {"name": "first", "pii": "name"},          # kept in Bronze, never in Silver
        {"name": "dob", "pii": "birth_date"},
        "qty", "units", "amt", "cat", "gender", "flag", "day", "time", "ts",
    ],
    "fields": {
        "txn_id": {"from": "txn_id", "lower": True},
        "card_number": {"from": "cc_num"},
        "birth_date": {"from": "dob", "type": "date", "formats": ["yyyy-MM-dd"],
                       "required": False},
        "qty": {"from": "qty", "type": "int", "min": 1, "max": 100, "required": False},
        "units": {"from": "units", "type": "int", "required": False},
        "amount": {"from": "amt", "type": "decimal(12,2)", "min": 0.01, "max": 1000,
                   "reason": "amount_out_of_range"},
        "category": {"from": "cat", "lower": True, "reference": "merchant_categories",
                     "reason": "unknown_category"},
        "gender": {"from": "gender", "upper": True, "accepted": ["F", "M", "X"],
                   "required": False},
        "is_fraud": {"from": "flag", "type": "boolean", "required": False},
        "trans_ts": {"from": "ts", "type": "timestamp", "formats": ["yyyy-MM-dd HH:mm:ss"],
                     "required": False},
        "local_ts": {"from": ["day", "time"], "type": "timestamp",
                     "formats": ["yyyy-MM-dd HH:mm:ss"]},
    },
})
RAW_COLUMNS = [bronze_column(c.name) for c in SOURCE.stored_layout]
CLEAN = {"txn_id": "T1", "cc_num": PAN, "first": "Ann", "dob": "1990-05-17", "qty": "2",
         "units": "7", "amt": "12.50", "cat": "Grocery_POS", "gender": "f", "flag": "1",
         "day": "2024-01-15", "time": "10:00:00", "ts": "2024-01-15 10:00:00"}
BRONZE_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in RAW_COLUMNS]
    + [T.StructField(CORRUPT, T.StringType()), T.StructField(SOURCE_FILE, T.StringType()),
       T.StructField("ingest_run_id", T.StringType()),
       T.StructField("ingested_at", T.TimestampType()),
       T.StructField(LANDED_AT, T.TimestampType())])
INGESTED = datetime(2024, 1, 16, 1, 0, tzinfo=UTC)


def bronze(spark, *cases: tuple[str, dict]):
    """One Bronze row per case: the clean row with some raw values replaced; the case name is
    carried in ``ingest_run_id`` so every output row can be told apart."""
    rows = []
    for name, changes in cases:
        raw = {**CLEAN, **{k: v for k, v in changes.items() if k != CORRUPT}}
        rows.append((*(raw[c] for c in RAW_COLUMNS),
                     changes.get(CORRUPT), "cards/day1.csv", name, INGESTED, INGESTED))
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


def parse(df):
    return df.transform(parse_fields(SOURCE, REASON_REFERENCES, KeyedToken(df.sparkSession, KEY)))


def token(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


# case -> (raw values replaced in the clean row, expected reasons)
CASES = {
    "clean": ({}, []),
    "spaced card": ({"cc_num": " 4111 1111-1111 1111"}, []),
    "blank optionals": ({c: "" for c in ("dob", "qty", "units", "gender", "flag", "ts")}, []),
    "blank key": ({"txn_id": "  "}, ["missing_key"]),
    "blank amount": ({"amt": ""}, ["missing_required"]),
    "qty not a number": ({"qty": "two"}, ["bad_number"]),
    "qty not whole": ({"qty": "2.5"}, ["bad_number"]),
    "amount not a number": ({"amt": "12,50"}, ["bad_number"]),
    "qty above max": ({"qty": "101"}, ["out_of_range"]),
    "qty below min": ({"qty": "0"}, ["out_of_range"]),
    "amount zero": ({"amt": "0"}, ["amount_out_of_range"]),
    "amount too wide": ({"amt": "12345678901.00"}, ["amount_out_of_range"]),
    "gender unknown": ({"gender": "q"}, ["invalid_value"]),
    "category unknown": ({"cat": "casino"}, ["unknown_category"]),
    "card fails luhn": ({"cc_num": "4111111111111112"}, ["invalid_card_number"]),
    "card too short": ({"cc_num": "4111"}, ["invalid_card_number"]),
    "card with letters": ({"cc_num": "4111x11111111111"}, ["invalid_card_number"]),
    "bad birth date": ({"dob": "1990-02-30"}, ["bad_date"]),
    "bad timestamp": ({"ts": "2024-13-01 10:00:00"}, ["bad_timestamp"]),
    "bad flag": ({"flag": "maybe"}, ["bad_boolean"]),
    "malformed": ({CORRUPT: f'T9,{PAN},"Ann,12.50'}, ["malformed_row"]),
    "several": ({"txn_id": "", "amt": "-1", "flag": "2"},
                ["amount_out_of_range", "bad_boolean", "missing_key"]),
    "no time": ({"time": " "}, ["missing_required"]),
    "no day": ({"day": ""}, ["missing_required"]),
    "bad time": ({"time": "25:00:00"}, ["bad_timestamp"]),
    "other amount": ({"amt": "12.51"}, []),
    # a row with whitespace other than spaces is trimmed of it (rules.blank_to_null)
    "tab padded amount": ({"amt": "\t12.50\r\n", "qty": " 2\u000b"}, []),
    "line break in a blank": ({"txn_id": " \r\n "}, ["missing_key"]),
}
# rows whose expected outcome is a known bug, kept apart from the reason-code table
BUGGY = {"units overflow": {"units": "2147483648"},
         "grouped card in corrupt line": {CORRUPT: 'T9,"4111 1111 1111 1111",Ann'}}


@pytest.fixture(scope="module")
def parsed(spark):
    """All cases parsed once (the plan is large, so this keeps the module fast)."""
    cases = [(name, changes) for name, (changes, _) in CASES.items()] + list(BUGGY.items())
    out = parse(bronze(spark, *cases)).cache()
    out.count()
    yield out
    out.unpersist()


def case(parsed, name: str):
    return parsed.where(F.col("ingest_run_id") == name).first()


def test_each_rule_yields_its_reason_code(spark, parsed):
    actual = (parsed.where(~F.col("ingest_run_id").isin(*BUGGY))
              .select(F.col("ingest_run_id").alias("case"), F.array_sort(REASONS).alias(REASONS)))
    expected = spark.createDataFrame([(name, reasons) for name, (_, reasons) in CASES.items()],
                                     actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_optional_fields_may_be_blank(parsed):
    row = case(parsed, "blank optionals")
    assert row[REASONS] == []
    assert (row.birth_year, row.qty, row.units, row.gender, row.is_fraud, row.trans_ts) == \
        (None,) * 6


def test_whole_number_too_large_for_int_is_out_of_range(parsed):
    row = case(parsed, "units overflow")
    assert (row.units, row[REASONS]) == (None, ["out_of_range"])


def test_clean_row_is_typed(spark, parsed):
    actual = parsed.where(F.col("ingest_run_id").isin("clean", "spaced card")).select(
        "ingest_run_id", "txn_id", "card_token", "card_masked", "birth_year", "qty", "units",
        "amount", "category", "gender", "is_fraud", "trans_ts", "local_ts", REASONS)
    at_ten = datetime(2024, 1, 15, 10, tzinfo=UTC)
    values = ("t1", token(PAN), "************1111", 1990, 2, 7, Decimal("12.50"), "grocery_pos",
              "F", True, at_ten, at_ten, [])
    expected = spark.createDataFrame([("clean", *values), ("spaced card", *values)],
                                     actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_invalid_card_is_masked_but_not_tokenized(parsed):
    row = case(parsed, "card fails luhn")
    assert (row.card_token, row.card_masked) == (None, "************1112")


def test_output_keeps_no_raw_personal_data(parsed):
    assert {"card_token", "card_masked", "birth_year"} <= set(parsed.columns)
    assert {REASONS, RAW_HASH, RAW_VALUES, "source", SOURCE_FILE, "ingest_run_id",
            "ingested_at"} <= set(parsed.columns)
    for raw in ("cc_num", "card_number", "first", "dob", "birth_date", "day", "time", CORRUPT):
        assert raw not in parsed.columns
    # free text in the raw values is redacted as the quarantine keeps them
    assert pan_hits(parsed.drop(RAW_VALUES)) == {}
    quarantine = parsed.transform(classify(("txn_id",))).transform(to_quarantine(("txn_id",)))
    assert quarantine.count() > 10
    assert pan_hits(quarantine) == {}


def test_the_scan_leaves_out_only_columns_the_parse_wrote_itself(parsed):
    # digests, the masked card, reason codes and the run id: never text as landed, so the
    # card-number scan of a parsed batch skips them (every other column is scanned)
    assert set(unscanned_columns(SOURCE)) == {"card_token", RAW_HASH, "card_masked", REASONS,
                                              "ingest_run_id"}
    # none holds a card number, whatever was landed (the cases include invalid and grouped
    # card numbers, and card numbers typed into other fields)
    assert pan_hits(parsed.select(*unscanned_columns(SOURCE))) == {}


def test_lineage_is_carried(parsed):
    row = case(parsed, "clean")
    assert (row.source, row[SOURCE_FILE], row.ingested_at.replace(tzinfo=UTC)) == \
        ("cards", "cards/day1.csv", INGESTED)


def raw_json(parsed, name: str) -> str:
    """A case's raw values as the quarantine keeps them (JSON)."""
    return (parsed.where(F.col("ingest_run_id") == name)
            .select(F.to_json(RAW_VALUES).alias("raw")).first().raw)


def test_raw_values_mask_the_card_and_replace_personal_data(parsed):
    text = raw_json(parsed, "clean")
    raw = json.loads(text)
    assert raw["cc_num"] == "************1111"
    assert raw["first"] == "<name>"
    assert raw["dob"] == "<birth_date>"
    assert raw["txn_id"] == "T1" and raw["amt"] == "12.50"
    assert PAN not in text and "Ann" not in text


CARD_TEXTS = [PAN, " 4111 1111-1111 1111", "\t4111111111111111\r", "4111111111111112",
              "4111", "4111x11111111111", "", "   ", "\t", "12345678901234567890123",
              "-4111111111111111", "\u0664\u0661\u0661\u0661" * 4, "4111 1111 ab 1111 1111",
              None]


def test_raw_values_mask_the_card_as_typed(spark):
    # the raw values take the card number's masked form from its field's parse: for every
    # text, what masking the raw text itself gives
    df = parse(bronze(spark, *[(f"card {i}", {"cc_num": text})
                               for i, text in enumerate(CARD_TEXTS)]))
    raw = F.col(bronze_column("cc_num"))
    expected = F.when(raw.isNotNull(), mask_pan(digits_only(F.trim(raw))))
    rows = (bronze(spark, *[(f"card {i}", {"cc_num": text})
                            for i, text in enumerate(CARD_TEXTS)])
            .select("ingest_run_id", expected.alias("expected"))
            .join(df.select("ingest_run_id", F.col(f"{RAW_VALUES}.cc_num").alias("kept")),
                  "ingest_run_id").collect())
    assert len(rows) == len(CARD_TEXTS)
    assert [(r.ingest_run_id, r.kept) for r in rows] == [
        (r.ingest_run_id, r.expected) for r in rows]
    assert sum(r.kept == "************1111" for r in rows) >= 3


def test_a_prefix_is_stripped_once_from_the_start_only(spark):
    source = SourceConfig.model_validate({
        "name": "shops", "entity": "shops", "format": "csv", "natural_key": ["id"],
        "layout": ["id", "merchant"],
        "fields": {"id": {"from": "id"},
                   "merchant": {"from": "merchant", "strip_prefix": "fraud.", "required": False}}})
    texts = {"fraud.Kirlin": "Kirlin", "Kirlin": "Kirlin", " fraud.Abc\t": "Abc",
             "fraud.fraud.x": "fraud.x", "xfraud.a": "xfraud.a", "fraudXa": "fraudXa",
             "fraud.": "", "": None}
    schema = T.StructType(
        [T.StructField(bronze_column(c), T.StringType()) for c in ("id", "merchant")]
        + BRONZE_SCHEMA.fields[len(RAW_COLUMNS):])
    df = spark.createDataFrame([(str(i), text, None, "shops/a.csv", "r", INGESTED, INGESTED)
                                for i, text in enumerate(texts)], schema)
    out = df.transform(parse_fields(source, {}, KeyedToken(spark, KEY)))
    got = {int(r.id): r.merchant for r in out.select("id", "merchant").collect()}
    assert got == {i: expected for i, expected in enumerate(texts.values())}


def test_a_corrupt_line_with_a_card_number_is_masked(parsed):
    text = raw_json(parsed, "malformed")
    assert json.loads(text)["_line"] == 'T9,****1111,"Ann,12.50'
    assert PAN not in text


def test_raw_values_are_json_for_the_quarantined_rows_only(parsed):
    classified = parsed.transform(classify(("ingest_run_id",)))  # each case on its own
    assert classified.schema[RAW_VALUES].dataType == T.StringType()
    rows = classified.select(OUTCOME, RAW_VALUES).collect()
    assert {r[OUTCOME] for r in rows} >= {batch.CLEAN, QUARANTINED}
    assert all((r[RAW_VALUES] is not None) == (r[OUTCOME] == QUARANTINED) for r in rows)
    assert all(json.loads(r[RAW_VALUES]) for r in rows if r[OUTCOME] == QUARANTINED)


def test_a_corrupt_line_with_a_grouped_card_number_is_masked_once_quarantined(parsed):
    """The parse masks unbroken digit runs in a malformed line; a grouped card number is masked
    as the quarantine keeps the line (``tests/silver/test_batch.py``)."""
    row = (parsed.where(F.col("ingest_run_id") == "grouped card in corrupt line")
           .transform(classify(("txn_id",))).transform(to_quarantine(("txn_id",))).first())
    assert "malformed_row" in row.reasons
    assert "4111 1111 1111" not in row.raw
    assert card_numbers(row.raw) == []


def test_raw_hash_tells_records_apart(parsed):
    hashes = {r.ingest_run_id: r[RAW_HASH] for r in parsed.collect()}
    assert len(hashes["clean"]) == 64
    assert len({hashes["clean"], hashes["other amount"], hashes["malformed"],
                hashes["spaced card"]}) == 4


def test_raw_hash_is_equal_for_equal_raw_values(spark):
    out = bronze(spark, ("a", {}), ("b", {})).transform(
        parse_fields(SOURCE, REASON_REFERENCES, KeyedToken(spark, KEY))).select(RAW_HASH).distinct()
    assert out.count() == 1


def test_field_from_two_columns_is_missing_if_one_part_is_blank(spark, parsed):
    actual = (parsed.where(F.col("ingest_run_id").isin("clean", "no time", "no day", "bad time"))
              .select(F.col("ingest_run_id").alias("case"), "local_ts"))
    expected = spark.createDataFrame([
        ("clean", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("no time", None), ("no day", None), ("bad time", None),
    ], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(("name", "pii", "columns"), [
    ("card_number", "pan", ("card_token", "card_masked")),
    ("pan", "pan", ("pan_token", "pan_masked")),
    ("customer_id", "identifier", ("customer_id_token",)),
    ("birth_date", "birth_date", ("birth_year",)),
    ("dob", "birth_date", ("dob_year",)),
    ("city", "none", ("city",)),
])
def test_output_columns(name, pii, columns):
    assert output_columns(name, pii) == columns


def test_the_fields_reference_lists_and_patterns_are_checked_before_a_run_reads_anything(spark):
    jobs = spark_jobs_started(spark)
    check_parsing(spark, [SOURCE], REASON_REFERENCES)  # the source above is fine
    # its patterns were tried while Spark planned the query: no job ran
    assert spark_jobs_started(spark) == jobs

    def with_field(**changes) -> SourceConfig:
        fields = {name: spec.model_dump(by_alias=True) for name, spec in SOURCE.fields.items()}
        fields["trans_ts"] |= changes
        return SOURCE.model_copy(update={"fields": {
            n: type(SOURCE.fields["trans_ts"]).model_validate(f) for n, f in fields.items()}})

    with pytest.raises(ConfigError, match=r"^source cards: fields.category.reference: no "
                       r"reference list 'merchant_categories' \(the reference folder has: "
                       r"other\)$"):
        check_parsing(spark, [SOURCE], {"other": frozenset({"x"})})
    # a letter Spark does not know, and one it refuses for parsing since Spark 3 (week-based)
    with pytest.raises(ConfigError, match=r"^source cards: fields.trans_ts.formats: Spark does "
                       r"not accept the pattern 'yyyy-MM-dd qq' for parsing: Illegal pattern "
                       r"character: q$"):
        check_parsing(spark, [with_field(formats=["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd qq"])],
                      REASON_REFERENCES)
    with pytest.raises(ConfigError, match=r"fields.trans_ts.formats: Spark does not accept the "
                       r"pattern 'YYYY-MM-dd' for parsing \(see https://spark.apache.org/"):
        check_parsing(spark, [with_field(formats=["YYYY-MM-dd"])], REASON_REFERENCES)
