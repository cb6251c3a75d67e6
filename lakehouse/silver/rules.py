"""Row rules: reason codes and the Column -> Column parsers and checks they come from.

Every rule yields a reason code (or null) per row; a row with any reason goes to quarantine.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from pyspark.sql import Column
from pyspark.sql import functions as F

# Reason codes, as stored in silver.<entity>_quarantine.reasons
MALFORMED_ROW = "malformed_row"
MISSING_KEY = "missing_key"
MISSING_REQUIRED = "missing_required"
BAD_TIMESTAMP = "bad_timestamp"
BAD_DATE = "bad_date"
BAD_NUMBER = "bad_number"
BAD_BOOLEAN = "bad_boolean"
OUT_OF_RANGE = "out_of_range"
INVALID_VALUE = "invalid_value"
INVALID_CARD_NUMBER = "invalid_card_number"
DUPLICATE_IN_BATCH = "duplicate_in_batch"

REASON_DESCRIPTIONS = {
    MALFORMED_ROW: "the parser could not split the line or record into the expected fields, "
                   "or its bytes are not valid in the source's encoding",
    MISSING_KEY: "a natural-key field is empty",
    MISSING_REQUIRED: "a required field is empty",
    BAD_TIMESTAMP: "a timestamp matches none of the source's formats or is implausible",
    BAD_DATE: "a date matches none of the source's formats or is implausible",
    BAD_NUMBER: "a numeric field does not hold a number",
    BAD_BOOLEAN: "a flag is not one of 1/0/true/false/yes/no",
    OUT_OF_RANGE: "a value is outside its configured range",
    INVALID_VALUE: "a value is not one of the accepted values",
    INVALID_CARD_NUMBER: "the card number is not 8-19 digits or fails the Luhn check",
    DUPLICATE_IN_BATCH: "the batch holds different versions of the same natural key",
    "amount_out_of_range": "an amount is not positive or is above its configured maximum",
    "unknown_category": "the merchant category is not in the reference list",
    "bad_coordinates": "a latitude or longitude is outside the globe",
}

INTEGER = r"^[+-]?[0-9]+(\.0*)?$"
DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_TRUE = ("1", "true", "t", "yes", "y")
_FALSE = ("0", "false", "f", "no", "n")
_ZONED_PATTERN_LETTERS = ("X", "x", "Z", "O", "V", "z")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
# Trimmed from both ends of every value: tabs and line-break characters pad values as often as
# spaces do (a tab-padded amount, a CR left by a CRLF line ending)
WHITESPACE = " \t\r\n\f\u000b"
# What a decoder puts in place of bytes that are not valid in the source's encoding
REPLACEMENT_CHARACTER = "\ufffd"


def other_whitespace(text: Column) -> Column:
    """Whether ``text`` holds any WHITESPACE character other than a space."""
    return reduce(or_, [text.contains(c) for c in WHITESPACE if c != " "])


def blank_to_null(col: Column, padded: Column | None = None) -> Column:
    """Trimmed text (spaces, tabs, line breaks), with empty strings as null. ``padded``: false
    when the text holds no WHITESPACE but spaces (``other_whitespace``, of the text or of a
    whole row's texts; by default the text's own)."""
    # Text that holds no other whitespace has its spaces trimmed by a quick scan (``trim``).
    # Trimming a set of characters (``btrim``) copies each character it looks at and first
    # indexes every character of the text: a sixth of a 1 M-row parse's CPU, for every field.
    padded = other_whitespace(col) if padded is None else padded
    trimmed = F.when(padded, F.btrim(col, F.lit(WHITESPACE))).otherwise(F.trim(col))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def reason_if(condition: Column, reason: str) -> Column:
    """The reason code where ``condition`` holds, else null (nulls in the condition count false)."""
    return F.when(F.coalesce(condition, F.lit(False)), F.lit(reason))


_INTEGER_BOUNDS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def parse_integer(text: Column, spark_type: str, whole: Column | None = None) -> Column:
    """Whole numbers only: ``12.5`` is rejected rather than silently truncated, and a value too
    large for the type is null rather than wrapped around. ``whole``: ``text.rlike(INTEGER)``,
    when the caller has it already."""
    low, high = _INTEGER_BOUNDS[spark_type]
    wide = text.cast("decimal(38,0)")
    whole = text.rlike(INTEGER) if whole is None else whole
    return F.when(whole & wide.between(low, high), wide.cast(spark_type))


def parse_decimal(text: Column, spark_type: str, numeric: Column | None = None) -> Column:
    """``numeric``: ``text.rlike(DECIMAL)``, when the caller has it already."""
    return F.when(text.rlike(DECIMAL) if numeric is None else numeric, text.cast(spark_type))


def wide_decimal(text: Column, numeric: Column | None = None) -> Column:
    """The value at full width, for range checks before narrowing to the column's type."""
    return F.when(text.rlike(DECIMAL) if numeric is None else numeric, text.cast("double"))


def parse_boolean(text: Column) -> Column:
    lowered = F.lower(text)
    return F.when(lowered.isin(*_TRUE), F.lit(True)).when(lowered.isin(*_FALSE), F.lit(False))


def _zoned(pattern: str) -> bool:
    unquoted = "".join(part for i, part in enumerate(pattern.split("'")) if i % 2 == 0)
    return any(letter in unquoted for letter in _ZONED_PATTERN_LETTERS)


# Patterns whose values Spark's own cast reads, with the exact shape of those values. The cast's
# parser is far quicker than a pattern's formatter (java.time's: a quarter of a 1 M-row parse's
# CPU went to reading the timestamps and birth dates). For text of the shape, the two agree,
# invalid dates and times included (null); text of another shape the formatter reads only with a
# year of more than 4 digits, which the year range that follows rejects either way.
_CAST_SHAPES = {
    "yyyy-MM-dd HH:mm:ss": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "yyyy-MM-dd'T'HH:mm:ss": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "yyyy-MM-dd": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}


def _read(text: Column, pattern: str, kind: str) -> Column:
    """``text`` as a ``kind`` ("timestamp" or "date") by ``pattern``; null if it does not fit
    (with a year outside the range the callers keep, it may read it all the same)."""
    shape = _CAST_SHAPES.get(pattern)
    if shape is not None:
        return F.when(text.rlike(shape), text.cast(kind))
    return F.to_timestamp(text, pattern) if kind == "timestamp" else F.to_date(text, pattern)


def parse_timestamp(text: Column, formats: tuple[str, ...], zone: str) -> Column:
    """First format that parses, as UTC; naive values are read in the source's time zone."""
    candidates = []
    for pattern in formats:
        parsed = _read(text, pattern, "timestamp")
        if not _zoned(pattern) and zone.upper() != "UTC":
            parsed = F.to_utc_timestamp(parsed, zone)
        candidates.append(parsed)
    value = F.coalesce(*candidates)
    year = F.year(value)
    return F.when((year >= 1970) & (year <= LATEST_YEAR), value)


def parse_date(text: Column, formats: tuple[str, ...]) -> Column:
    value = F.coalesce(*[_read(text, pattern, "date") for pattern in formats])
    year = F.year(value)
    return F.when((year >= EARLIEST_YEAR) & (year <= LATEST_YEAR), value)
