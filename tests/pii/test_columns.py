"""Spark Column rules for card data, checked against the pure-Python definitions."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from decimal import Decimal

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.pii.card import is_luhn_valid, is_valid_pan, luhn_check_digit, redact_pans
from lakehouse.pii.columns import (
    _CANDIDATE_PATTERN,
    CARD_NUMBER_FOUND,
    GROUPED_SCAN_PATTERN,
    LUHN_MAX_DIGITS,
    SCAN_PATTERN,
    KeyedToken,
    contains_pan,
    digits_only,
    luhn_valid,
    mask_digits,
    mask_pan,
    pan_hits,
    redact_card_numbers,
    redact_digit_runs,
    valid_pan,
    with_card_number_flag,
    with_card_numbers_redacted,
)

KEY = b"k" * 32
PAN = "4111111111111111"
AMEX = "378282246310005"


def sample_numbers(count: int = 200) -> list[str]:
    """Digit strings of 6-21 digits, about half made Luhn-valid, plus a few non-digit ones."""
    rng = random.Random(20240115)
    numbers = []
    for i in range(count):
        length = rng.randint(6, 21)
        partial = "".join(rng.choice("0123456789") for _ in range(length - 1))
        numbers.append(partial + (luhn_check_digit(partial) if i % 2 == 0
                                  else rng.choice("0123456789")))
    return [*numbers, "", "4111 1111 1111 1111", "411111111111111x", "-4111111111111111"]


def test_luhn_and_pan_rules_agree_with_python(spark):
    numbers = sample_numbers()
    # both outcomes of both rules are well represented in the sample
    assert 80 < sum(is_luhn_valid(n) for n in numbers) < 130
    assert 50 < sum(is_valid_pan(n) for n in numbers) < 110
    df = (spark.createDataFrame([(n, is_luhn_valid(n), is_valid_pan(n)) for n in numbers],
                                "number string, py_luhn boolean, py_pan boolean")
          .withColumn("spark_luhn", luhn_valid(F.col("number")))
          .withColumn("spark_pan", valid_pan(F.col("number"))))
    assert_column_equality(df, "spark_luhn", "py_luhn")
    assert_column_equality(df, "spark_pan", "py_pan")


def test_luhn_reads_up_to_27_digits_and_calls_longer_strings_invalid(spark):
    numbers = []
    for length in (9, 10, 18, 19, 26, 27, 28, 40):
        partial = ("7992739871" * 4)[:length - 1]
        numbers.append(partial + luhn_check_digit(partial))
    assert all(is_luhn_valid(n) for n in numbers)
    found = [r.luhn for r in spark.createDataFrame([(n,) for n in numbers], "number string")
             .select(luhn_valid(F.col("number")).alias("luhn")).collect()]
    assert found == [len(n) <= LUHN_MAX_DIGITS for n in numbers]


def test_mask_digits_masks_digit_strings_as_mask_pan_does(spark):
    # lengths 1-21, and past the stars mask_digits cuts from (64 hidden digits)
    numbers = [n for n in sample_numbers() if n.isdigit()] + [
        "7", "42", "123", "1234", "12345", "9" * 68, "8" * 69, "1234567890" * 10]
    df = spark.createDataFrame([(n,) for n in numbers], "number string").select(
        mask_digits(F.col("number")).alias("fast"), mask_pan(F.col("number")).alias("regex"))
    assert_column_equality(df, "fast", "regex")


def test_luhn_rules_keep_null(spark):
    df = (spark.createDataFrame([(None,)], "number string")
          .select(luhn_valid(F.col("number")).alias("luhn"),
                  valid_pan(F.col("number")).alias("pan")))
    assert df.first().asDict() == {"luhn": None, "pan": None}


def test_mask_pan_shows_only_the_last_four_digits(spark):
    df = spark.createDataFrame([
        (PAN, "************1111"),
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        (AMEX, "***********0005"),
        ("1234", "1234"),           # four digits or fewer are no PAN and stay as they are
        (None, None),
    ], "value string, expected string").withColumn("masked", mask_pan(F.col("value")))
    assert_column_equality(df, "masked", "expected")


@pytest.mark.parametrize("value", ["41a11b11c11d11e11f1111", "4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1",
                                   "card 4111111111111111 exp 1226", "x4y1z1w1v1u1"])
def test_mask_pan_never_shows_more_than_four_digits_with_letters_mixed_in(spark, value):
    masked = spark.createDataFrame([(value,)], "value string").select(
        mask_pan(F.col("value")).alias("m")).first().m
    digits = [ch for ch in value if ch.isdigit()]
    assert len(masked) == len(value)
    assert [ch for ch in masked if ch.isdigit()] == digits[-4:]


def test_digits_only_removes_spaces_and_dashes(spark):
    df = spark.createDataFrame([
        ("4111 1111-1111\t1111", PAN),
        ("  3782-822463-10005 ", AMEX),
        ("4111.1111", "4111.1111"),     # other characters are kept, so the PAN rule rejects them
        (None, None),
    ], "value string, expected string").withColumn("digits", digits_only(F.col("value")))
    assert_column_equality(df, "digits", "expected")


def tokens(spark, key: bytes, values: list[str | None]) -> list[str | None]:
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, value string")
    out = KeyedToken(spark, key).tokens(df, {"token": F.col("value")})
    assert out.columns == ["i", "value", "token"]  # the key's columns are gone
    return [r.token for r in out.orderBy("i").collect()]


@pytest.mark.parametrize("key", [KEY, b"k" * 16, b"a-key-longer-than-the-64-byte-block-" * 3],
                         ids=["32 bytes", "16 bytes", "108 bytes: hashed first"])
def test_keyed_token_is_hmac_sha256_under_the_key(spark, key):
    values = [PAN, AMEX, "\u00fc-non-ascii", "", None]
    assert tokens(spark, key, values) == [
        None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()
        for v in values]
    # a plain (unkeyed) hash would be guessable from the small PAN space
    assert tokens(spark, key, [PAN])[0] != hashlib.sha256(PAN.encode()).hexdigest()


def test_keyed_token_of_a_batch_of_nulls_is_null(spark):
    """A batch with no card number at all (a customer update without one)."""
    assert tokens(spark, KEY, [None, None]) == [None, None]


def test_keyed_token_depends_on_the_key(spark):
    a, b = tokens(spark, b"a" * 16, [PAN]) + tokens(spark, b"b" * 16, [PAN])
    assert len(a) == 64 and a != b


def test_keyed_token_rejects_a_short_key(spark):
    with pytest.raises(ValueError, match="16 bytes"):
        KeyedToken(spark, b"k" * 15)


def test_key_never_appears_in_the_query_plan_and_no_python_runs(spark):
    key = b"super-secret-tokenization-key-0123456789"
    padded = key.ljust(64, b"\0")
    derived = [bytes(b ^ pad for b in padded) for pad in (0x36, 0x5C)]  # what the JVM holds
    df = KeyedToken(spark, key).tokens(spark.createDataFrame([(PAN,)], "value string"),
                                       {"token": F.col("value")})
    df.collect()
    # parsed, analyzed, optimized and physical; a binary literal prints as 0x and its hex
    plan = df._jdf.queryExecution().toString().lower()
    assert "token" in plan and "__hmac_inner_key" in plan
    for secret in (key.decode(), key.hex(), "super-secret", *(d.hex() for d in derived),
                   *(d.hex(" ") for d in derived), *(" ".join(map(str, d[:8])) for d in derived)):
        assert secret.lower() not in plan
    assert "EvalPython" not in plan  # no Python UDF: the JVM computes the tokens


def test_redact_digit_runs_masks_8_to_19_digit_runs(spark):
    nineteen = "4" + "1" * 17 + "3"
    df = spark.createDataFrame([
        (f"T1,{PAN},Ann,12.50", "T1,****1111,Ann,12.50"),
        (f"a{AMEX}b", "a****0005b"),
        ("ref 12345678 and 1234567", "ref ****5678 and 1234567"),  # 8 digits masked, 7 kept
        (f"x {nineteen} y", "x ****1113 y"),
        ("id 41111111111111111111", "id 41111111111111111111"),    # 20 digits: not a PAN
        (None, None),
    ], "value string, expected string").withColumn("redacted", redact_digit_runs(F.col("value")))
    assert_column_equality(df, "redacted", "expected")


def redaction_texts(count: int = 1500) -> list[str | None]:
    """Text mixing digits, separators, letters and punctuation; a third of it with a Luhn-valid
    number of 8-19 digits planted, half of those grouped by four; plus hand-picked cases."""
    rng = random.Random(20241206)
    alphabet = "0123456789" * 5 + " -" * 3 + "ab,;:"
    texts: list[str | None] = [
        f"charge {PAN} and {AMEX}; ref 12345678 ok", f"id=x{PAN}y", "4111 1111 1111 1111",
        "2024-03-01 4111-1111-1111-1111 10:00", "3782 822463 10005", f"{PAN} {PAN}",
        '{"merchant":"4111 1111 1111 1111","date":"2024-01-31"}', "1234 5678 9012", "", None]
    for i in range(count):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60)))
        if i % 3 == 0:
            number = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 18)))
            number += luhn_check_digit(number)
            if i % 2:
                number = rng.choice(" -").join(number[j:j + 4] for j in range(0, len(number), 4))
            at = rng.randint(0, len(text))
            text = text[:at] + number + text[at:]
        texts.append(text)
    return texts


def test_redact_card_numbers_masks_as_the_python_rule_does(spark):
    texts = redaction_texts()
    expected = [None if t is None else redact_pans(t) for t in texts]
    # the sample exercises masking, of grouped numbers too, and text left alone
    assert 200 < sum(t != e for t, e in zip(texts, expected, strict=True)) < 700
    assert sum(bool(re.search(r"\*{4}[ -]\*{4}", e)) for e in expected if e) > 50
    df = (spark.createDataFrame(list(zip(texts, expected, strict=True)),
                                "text string, expected string")
          .withColumn("redacted", redact_card_numbers(F.col("text"))))
    assert_column_equality(df, "redacted", "expected")


def test_contains_pan_finds_a_pan_in_text_but_not_in_hex_ids(spark):
    hex32 = "ab" + PAN + "cdef0123456789"            # 32 hex chars with a PAN glued to letters
    hex64 = ("f" * 20 + AMEX + "e" * 29)
    assert (len(hex32), len(hex64)) == (32, 64)
    df = spark.createDataFrame([
        (f"paid with {PAN} today", True),
        (f"card:{AMEX};", True),
        ("4111111111111112", False),             # not Luhn-valid
        (hex32, False),
        (hex64, False),
        ("1234567890", False),
        (None, False),
        # a decimal's fraction is no card number (this one's 15 digits are Luhn-valid), its
        # whole part can be (a card number that became a float)
        ('{"unexpected_percent": 4.878048780487805}', False),
        (f"{PAN}.0", True),
        (f"ref.{PAN}", True),
        (f"4.8780 {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}", True),
    ], "text string, expected boolean").withColumn("found", contains_pan(F.col("text")))
    assert_column_equality(df, "found", "expected")


def test_the_cheap_first_pass_lets_every_card_number_through():
    """``contains_pan`` extracts only from text its candidate pattern matches: that pattern
    must match wherever either scan pattern does (else a card number would go unseen). It is
    the plain "11 digits, or 4, a separator and 4" with the common prefix factored out."""
    rng = random.Random(7)
    alphabet = "0123456789" * 4 + " -" * 3 + "abcdefXYZ;:"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(8, 40)))
             for _ in range(20_000)]
    texts += [f"{PAN}", f"x {PAN}", f"{PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}",
              f"{AMEX[:4]}-{AMEX[4:10]}-{AMEX[10:]}", f";{AMEX}"]
    found = [t for t in texts if re.search(SCAN_PATTERN, t) or re.search(GROUPED_SCAN_PATTERN, t)]
    assert len(found) > 500  # the random texts do hold numbers of both kinds
    assert [t for t in found if not re.search(_CANDIDATE_PATTERN, t)] == []
    plain = r"[0-9]{11}|[0-9]{4}[ -][0-9]{4}"
    assert [bool(re.search(_CANDIDATE_PATTERN, t)) for t in texts] == \
        [bool(re.search(plain, t)) for t in texts]


SCAN_SCHEMA = T.StructType([
    T.StructField("note", T.StringType()),
    T.StructField("trans_id", T.StringType()),
    T.StructField("token", T.StringType()),
    T.StructField("cents", T.LongType()),
    T.StructField("account", T.DecimalType(20, 2)),
    T.StructField("tags", T.ArrayType(T.StringType())),
    T.StructField("small", T.IntegerType()),
])


def test_pan_hits_counts_rows_per_column_across_types(spark):
    token = hmac.new(KEY, PAN.encode(), hashlib.sha256).hexdigest()
    df = spark.createDataFrame([
        (f"card {PAN}", "ab" + PAN + "cdef0123456789", token, int(PAN), Decimal(AMEX), ["x"], 1),
        ("clean", "0" * 32, token, 5, Decimal("12.50"), ["y", AMEX], 2),
        (f"again {AMEX}", "f" * 32, None, int(AMEX), None, None, 3),
    ], SCAN_SCHEMA)
    assert pan_hits(df) == {"note": 2, "cents": 2, "account": 1, "tags": 1}


def test_pan_hits_of_a_clean_frame_is_empty(spark):
    df = spark.createDataFrame([
        ("************1111", "a" * 32, "f" * 64, 12, Decimal("1.00"), ["ok"], 7),
    ], SCAN_SCHEMA)
    assert pan_hits(df) == {}


def test_pan_hits_finds_a_pan_in_a_double_column(spark):
    df = spark.createDataFrame([(float(AMEX),), (1.5,)], "value double")
    assert pan_hits(df) == {"value": 1}


def test_card_number_flag_is_right_for_each_frame_of_a_schema_and_each_skip(spark):
    """The scan's expression is built once per schema and reused: every frame still gets its
    own rows' flags, and other skipped columns or types get their own expression."""
    schema = "id string, note string, amount long"
    clean = spark.createDataFrame([("a", "lunch", 5)], schema)
    dirty = spark.createDataFrame([("b", f"card {PAN}", 5), ("c", "ok", int(AMEX))], schema)
    flags = [[r[CARD_NUMBER_FOUND] for r in with_card_number_flag(df).orderBy("id").collect()]
             for df in (clean, dirty, clean)]
    assert flags == [[False], [True, True], [False]]
    skipped = with_card_number_flag(dirty, skip=["note"]).orderBy("id").collect()
    assert [r[CARD_NUMBER_FOUND] for r in skipped] == [False, True]
    as_text = dirty.withColumn("amount", F.col("amount").cast("int"))  # ints cannot hold one
    assert [r[CARD_NUMBER_FOUND] for r in with_card_number_flag(as_text).orderBy("id")
            .collect()] == [True, False]


def test_with_card_numbers_redacted_masks_the_text_of_the_rows_that_hold_one(spark):
    grouped = " ".join(PAN[i:i + 4] for i in range(0, 16, 4))
    other = "12345678901"  # 11 digits, no card number: left alone everywhere
    assert not is_luhn_valid(other)
    schema = "id string, note string, raw string, amount long"
    rows = [
        ("a", f"Nurse {grouped}", f"order {other}", 5),   # grouped, in one column
        ("b", "lunch", f"cc={AMEX};ref={other}", 6),     # unbroken, in another
        ("c", f"ref {other}", None, 7),                    # no card number: as it is
        ("d", None, None, None),
    ]
    # 8 digits, Luhn-valid: the precise redaction would mask it, the blocking scan (11-19
    # digits) does not flag its row, which therefore stays as it is
    short = "1234567" + luhn_check_digit("1234567")
    assert redact_pans(f"code {short}") != f"code {short}"
    untouched = [("e", f"code {short}", "x", 8)]
    df = spark.createDataFrame(rows + untouched, schema)
    expected = spark.createDataFrame(
        [(i, redact_pans(n) if n else n, redact_pans(r) if r else r, a) for i, n, r, a in rows]
        + untouched, schema)
    redacted = with_card_numbers_redacted(df)
    assert_df_equality(redacted, expected, ignore_row_order=True)
    assert redacted.where(F.col("note").contains(other) | F.col("raw").contains(other)).count() \
        == 3
    assert pan_hits(redacted) == {}
    assert pan_hits(df) == {"note": 1, "raw": 1}
