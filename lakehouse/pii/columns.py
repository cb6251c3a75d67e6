"""Column -> Column card-data rules, evaluated in the JVM except the precise redaction of
free text (``redact_card_numbers``).

The tokenization key never appears in a printed Spark plan (plans are printed in errors and
logs): ``KeyedToken`` joins it to the rows as a one-row table, which plans show by its columns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.pii.card import PAN_MAX_LENGTH, PAN_MIN_LENGTH, redact_pans

# Digit runs the card-number scan looks at: 11-19 digits (the public data has 11-digit PANs) not
# glued to letters or other digits, so hex ids and tokens never match by accident, nor the
# fraction of a decimal number (Great Expectations writes shares such as 4.878048780487805,
# whose 15-digit fraction is Luhn-valid); the whole part of one is read (a card number that
# became a float: its 16 digits, then ".0").
_NOT_GLUED = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
SCAN_PATTERN = _NOT_GLUED + r"([0-9]{11,19})(?![0-9A-Za-z])"
# Card numbers as people write them: 4-4-4-(1..7) or Amex 4-6-5, spaces or dashes between.
GROUPED_SCAN_PATTERN = (_NOT_GLUED + r"([0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}"
                        r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{5})(?![0-9A-Za-z])")
# What every match of the two patterns above contains (a superset, checked first): 11 digits,
# or 4 digits, a space or dash and 4 more. Written with the 4 digits both start with taken out
# front, which Java's regular expressions try once per position instead of once per branch: a
# quarter less time to scan Silver's text than "[0-9]{11}|[0-9]{4}[ -][0-9]{4}", which matches
# the same strings. (Requiring no letter or digit before the 11, as SCAN_PATTERN does, let
# fewer hex tokens through but made the pass slower than it saved.)
_CANDIDATE_PATTERN = r"[0-9]{4}(?:[0-9]{7}|[ -][0-9]{4})"
# Digit runs masked in free text kept for operators (quarantine raw lines): 8-19 digits.
_REDACT_PATTERN = r"(?<![0-9])[0-9]{4,15}([0-9]{4})(?![0-9])"


def digits_only(col: Column) -> Column:
    """A card number as typed: spaces and dashes between digit groups removed."""
    return F.regexp_replace(col, r"[\s-]", "")


# The longest digit string the Spark Luhn rule reads (card numbers have at most 19 digits; so
# do the runs the card-number scan extracts). Read as three 9-digit numbers: a number below
# 10^9 divides exactly in double precision, so each digit comes out by arithmetic.
LUHN_MAX_DIGITS = 27
_CHUNK = 9


def _doubled(digit: Column) -> Column:
    """A digit Luhn doubles: twice its value, 10-18 counting as the sum of their digits."""
    return digit * 2 - F.when(digit > 4, 9).otherwise(0)


def _luhn_sum(col: Column) -> Column:
    """The Luhn sum of a digit string of at most ``LUHN_MAX_DIGITS`` digits (0 for null).

    The string is cut from the right into 9-digit pieces, each cast to a number once, and
    every digit is taken from its piece by division: plain expressions Spark compiles. Taking
    each digit as a one-character substring of the reversed string (as this did before) cost
    six times as much: Spark computed the reversal again for every digit and counted the
    string's characters for every substring."""
    length = F.length(col)
    total = F.lit(0).cast("long")
    for chunk in range(LUHN_MAX_DIGITS // _CHUNK):
        end = length - _CHUNK * chunk                   # the piece's last character, 1-based
        start = F.greatest(end - (_CHUNK - 1), F.lit(1))
        piece = F.coalesce(col.substr(start, end - start + 1).cast("long"),
                           F.lit(0).cast("long"))
        for place in range(_CHUNK):
            digit = piece % 10 if place == 0 else F.floor(piece / 10 ** place) % 10
            position = _CHUNK * chunk + place + 1       # from the right; every second doubles
            total = total + (digit if position % 2 else _doubled(digit))
    return total


def luhn_valid(col: Column) -> Column:
    """True when a string of 1 to ``LUHN_MAX_DIGITS`` digits passes the Luhn check (null for
    null); longer strings are no card number and give false."""
    # the sum first: the left side of an AND is always evaluated, so Spark computes each piece
    # once; on the right it would be recomputed for every digit
    return (_luhn_sum(col) % 10 == 0) & col.rlike(f"^[0-9]{{1,{LUHN_MAX_DIGITS}}}$")


def valid_pan(col: Column) -> Column:
    """Business rule: 8-19 digits and Luhn-valid (``luhn_valid`` with the one pattern that
    implies its own)."""
    return (_luhn_sum(col) % 10 == 0) & col.rlike(f"^[0-9]{{{PAN_MIN_LENGTH},{PAN_MAX_LENGTH}}}$")


# mask_digits takes its stars from this string for up to this many hidden digits
_STARS = 64


def mask_digits(col: Column) -> Column:
    """A string of digits masked as ``mask_pan`` does, without a regular expression: every digit
    but the last four becomes ``*``, the stars cut from a string of them. Only for strings of
    digits. (``translate``-ing the digits into stars, as this did before, looked each character
    up in a map: 1-2% of a 1 M-row parse's CPU.)"""
    hidden = F.length(col) - 4
    stars = F.when(hidden <= _STARS, F.lit("*" * _STARS).substr(F.lit(1), hidden)).otherwise(
        F.translate(col.substr(F.lit(1), hidden), "0123456789", "*" * 10))
    return F.concat(stars, F.substring(col, -4, 4))


def mask_pan(col: Column) -> Column:
    """At most the last four digits shown: ``************1234`` (any digit followed by four more
    digits anywhere in the value is masked, so letters mixed in cannot expose more; digits of
    any script count, as in ``lakehouse.pii.card.mask_pan``)."""
    return F.regexp_replace(col, r"\p{Nd}(?=(?:\P{Nd}*\p{Nd}){4})", "*")


def redact_digit_runs(col: Column) -> Column:
    """Free text with every run of 8-19 digits masked down to its last four."""
    return F.regexp_replace(col, _REDACT_PATTERN, "****$1")


# HMAC (RFC 2104) over SHA-256: the key padded to the hash's 64-byte block, XOR-ed with these
_BLOCK = 64
_INNER_PAD, _OUTER_PAD = 0x36, 0x5C
_INNER_KEY, _OUTER_KEY = "__hmac_inner_key", "__hmac_outer_key"


class KeyedToken:
    """HMAC-SHA-256 of a value under ``key``, as 64 hex characters (null stays null): the same
    tokens as Python's ``hmac.digest(key, value.encode(), "sha256").hex()``, computed in the JVM.

    HMAC is SHA-256 twice over the key padded and XOR-ed two ways; those two padded keys travel
    as a one-row table (``join``) whose columns the token expression reads. A plan shows such a
    table by its column names, never its values (a literal would print the key). A pandas UDF
    with the key in its closure did this before: every card number and customer id went to
    Python through Arrow and back (0.5-1 s more per 1 M parsed transactions)."""

    def __init__(self, spark: SparkSession, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the tokenization key must be at least 16 bytes")
        padded = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._keys = _secret_row(spark, {
            _INNER_KEY: bytes(b ^ _INNER_PAD for b in padded),
            _OUTER_KEY: bytes(b ^ _OUTER_PAD for b in padded)})

    def join(self, df: DataFrame) -> DataFrame:
        """``df`` with the key's two columns, which the token expressions read."""
        return df.crossJoin(F.broadcast(self._keys))

    def __call__(self, col: Column) -> Column:
        """The token of a string column of a frame that went through ``join``."""
        inner = F.unhex(F.sha2(F.concat(F.col(_INNER_KEY), col.cast("binary")), 256))
        return F.sha2(F.concat(F.col(_OUTER_KEY), inner), 256)

    @staticmethod
    def drop(df: DataFrame) -> DataFrame:
        """``df`` without the key's columns."""
        return df.drop(_INNER_KEY, _OUTER_KEY)

    def tokens(self, df: DataFrame, columns: Mapping[str, Column]) -> DataFrame:
        """``df`` with a column of tokens per entry of ``columns`` (name -> value)."""
        return self.drop(self.join(df).withColumns({n: self(c) for n, c in columns.items()}))


def _secret_row(spark: SparkSession, values: Mapping[str, bytes]) -> DataFrame:
    """One row of binary values, built in the JVM as a local table (no Spark job, no Python
    worker, and its values in no printed plan: ``lakehouse.runtime.spark.local_frame``, for
    rows that are not secret, carries them as text in the query, which plans print)."""
    gateway = spark.sparkContext._gateway
    assert gateway is not None
    jvm = gateway.jvm
    row = gateway.new_array(jvm.java.lang.Object, len(values))
    for index, value in enumerate(values.values()):
        row[index] = value
    rows = jvm.java.util.ArrayList()
    rows.add(jvm.org.apache.spark.sql.RowFactory.create(row))
    schema = T.StructType([T.StructField(name, T.BinaryType(), False) for name in values])
    jschema = spark._jsparkSession.parseDataType(schema.json())
    return DataFrame(spark._jsparkSession.createDataFrame(rows, jschema), spark)


def contains_pan(col: Column) -> Column:
    """True when text holds a Luhn-valid card number of 11-19 digits, unbroken or grouped
    (the blocking card-number scan)."""
    unbroken = F.regexp_extract_all(col, F.lit(SCAN_PATTERN), 1)
    grouped = F.transform(F.regexp_extract_all(col, F.lit(GROUPED_SCAN_PATTERN), 1), digits_only)
    precise = F.exists(F.concat(unbroken, grouped), luhn_valid)
    # most text has no run of 11 digits, nor 4 digits, a space or dash and 4 more: one cheap
    # pass rules it out before the two extracting passes and the Luhn checks
    return F.when(col.rlike(_CANDIDATE_PATTERN), F.coalesce(precise, F.lit(False))
                  ).otherwise(F.lit(False))


@F.pandas_udf(T.StringType())  # type: ignore[call-overload]
def redact_card_numbers(values: pd.Series) -> pd.Series:
    """Free text with Luhn-valid card numbers masked, grouped ones included (Python, precise):
    the raw values the quarantine keeps (``lakehouse.silver.batch.to_quarantine``).

    The one rule here that runs in Python. Replicated in Spark with higher-order functions
    (whose lambdas Spark interprets row by row), it matched ``redact_pans`` but took about
    0.3 ms a row: 3.5 s more for the 24 k rows a 1 M-row load quarantines."""
    return values.map(lambda v: None if v is None else redact_pans(v))


def _as_text(df: DataFrame, field: T.StructField) -> Column | None:
    column = F.col(f"`{field.name}`")
    kind = field.dataType
    if isinstance(kind, T.StringType):
        return column
    if isinstance(kind, (T.LongType, T.DecimalType)):
        return column.cast("string")
    if isinstance(kind, (T.DoubleType, T.FloatType)):
        # a double holds a 15-16 digit number exactly; print whole values without exponent
        return F.when(column == F.floor(column), column.cast("decimal(38,0)").cast("string"))
    if isinstance(kind, (T.ArrayType, T.MapType, T.StructType)):
        return F.to_json(column)
    return None  # ints, dates and booleans cannot hold an 11+ digit number


CARD_NUMBER_FOUND = "card_number_found"


# The scan's expression per Spark application: building it takes a few hundred calls into the
# JVM (the Luhn sum is written out digit by digit), 0.1-0.2 s, and a run flags several frames
# (each Silver batch, each Gold table). It reads one column, the frame's text joined, so one
# expression serves every frame whatever its schema.
_SCANS: dict[str, Column] = {}
_SCAN_TEXT = "__card_number_scan_text"


def with_card_number_flag(df: DataFrame, skip: Iterable[str] = ()) -> DataFrame:
    """Adds ``card_number_found``: whether any column of the row holds a card number (the
    blocking scan as a column a quality gate can check). ``skip``: columns the pipeline
    computed itself, which carry nothing from the input: hex digests (keyed tokens, hashes),
    and Gold's sums."""
    skipped = set(skip)
    texts = [t for t in (_as_text(df, f) for f in df.schema.fields if f.name not in skipped)
             if t is not None]
    joined = F.concat_ws("\u0001", *texts) if texts else F.lit("")
    return (df.withColumn(_SCAN_TEXT, joined).withColumn(CARD_NUMBER_FOUND, _scan(df))
            .drop(_SCAN_TEXT))


def _scan(df: DataFrame) -> Column:
    """``contains_pan`` of the column ``_SCAN_TEXT``, built once per Spark application."""
    application = df.sparkSession.sparkContext.applicationId
    scan = _SCANS.get(application)
    if scan is None:
        _SCANS.clear()  # expressions of an earlier (stopped) application
        scan = _SCANS[application] = contains_pan(F.col(_SCAN_TEXT))
    return scan


def text_columns(schema: T.StructType) -> set[str]:
    """The columns ``with_card_numbers_redacted`` can mask card numbers in: the text ones."""
    return {f.name for f in schema.fields if isinstance(f.dataType, T.StringType)}


def with_card_numbers_redacted(df: DataFrame) -> DataFrame:
    """``df`` with the card numbers in its text columns masked (``redact_card_numbers``), in
    the rows where the blocking scan finds one; every other row as it is, and as many rows.
    Only text columns are rewritten: ``pan_hits`` says whether any other column holds one."""
    texts = text_columns(df.schema)
    flagged = with_card_number_flag(df)
    found = F.col(CARD_NUMBER_FOUND)
    # the precise redaction runs in Python, over the rows the scan flags only
    redacted = flagged.where(found).select(*(
        redact_card_numbers(F.col(f"`{c}`")).alias(c) if c in texts else F.col(f"`{c}`")
        for c in df.columns))
    return flagged.where(~found).select(*(F.col(f"`{c}`") for c in df.columns)
                                        ).unionByName(redacted)


def pan_hits(df: DataFrame) -> dict[str, int]:
    """Rows per column that contain a Luhn-valid card number; one Spark job for all columns.

    Each row's columns are turned into (column, text) rows checked by one scan expression:
    one copy of the scan per column (as this did before) made a plan, and generated code,
    as many times larger (2-5 s per table however few its rows)."""
    texts = [F.struct(F.lit(field.name).alias("column"), text.alias(_SCAN_TEXT))
             for field in df.schema.fields if (text := _as_text(df, field)) is not None]
    if not texts:
        return {}
    cells = df.select(F.explode(F.array(*texts)).alias("cell")).select("cell.*")
    found = cells.where(_scan(df)).groupBy("column").count().collect()
    return {row["column"]: int(row["count"]) for row in found}
