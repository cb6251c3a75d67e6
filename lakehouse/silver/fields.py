"""Config-driven parsing of Bronze text into typed, checked Silver fields.

``parse_fields(source, ...)`` is a pure ``DataFrame -> DataFrame`` step: each field of the source's
YAML becomes a typed column, and every rule it breaks adds a reason code to ``reasons``. Card data
leaves here only as a keyed token and a masked form; birth dates only as a year.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from operator import and_

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException, SparkUpgradeException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import FieldSpec, SourceConfig
from lakehouse.errors import ConfigError
from lakehouse.io.landing import CORRUPT, LANDED_AT, SOURCE_FILE, bronze_column
from lakehouse.pii import columns as pii
from lakehouse.silver import rules

Tokenizer = pii.KeyedToken
REASONS = "reasons"
RAW_HASH = "raw_hash"
# every row's landed values, card column masked, other personal data replaced by its class
# (``_raw_values``): a struct, which ``lakehouse.silver.batch.classify`` turns into JSON for the
# rows the quarantine keeps; free text is redacted as the quarantine keeps them
# (``lakehouse.silver.batch.to_quarantine``)
RAW_VALUES = "raw_values"
LINEAGE = ("source", SOURCE_FILE, "ingest_run_id", "ingested_at")


def output_columns(name: str, pii_class: str) -> tuple[str, ...]:
    """The Silver column(s) a field becomes: PII never keeps its own name or value."""
    stem = name.removesuffix("_number").removesuffix("_date")
    if pii_class == "pan":
        return (f"{stem}_token", f"{stem}_masked")
    if pii_class == "identifier":
        return (f"{name}_token",)
    if pii_class == "birth_date":
        return (f"{stem}_year",)
    return (name,)


def _tokenized(source: SourceConfig) -> list[str]:
    """The source's fields that become keyed tokens (card numbers and identifiers)."""
    return [name for name in source.fields if source.field_pii(name) in ("pan", "identifier")]


def unscanned_columns(source: SourceConfig) -> tuple[str, ...]:
    """The parsed columns that cannot hold a card number, which the card-number scan of a
    parsed batch leaves out: what the pipeline wrote itself, never text as landed - hex digests
    (keyed tokens, the raw hash), masked card numbers (at most four digits shown), reason codes
    and the run's id. Scanning them cost about a fifth of the scan (0.6-1.1 s per 1 M rows,
    the reasons' JSON most)."""
    tokens = [output_columns(name, source.field_pii(name))[0] for name in _tokenized(source)]
    masked = [output_columns(name, "pan")[1] for name in source.fields
              if source.field_pii(name) == "pan"]
    return (*tokens, RAW_HASH, *masked, REASONS, "ingest_run_id")


@dataclass(frozen=True)
class _Parsed:
    """A field's parse in steps: ``steps[i]`` are columns (by temporary name) computed from
    the Bronze row and the columns of earlier steps; ``outputs`` and ``reasons`` read them."""

    steps: tuple[dict[str, Column], ...]
    outputs: dict[str, Column]
    reasons: list[Column]
    # raw column -> its value as the raw values keep it, where the parse has it already (a card
    # number's masked form, ``_raw_values``)
    raw: dict[str, Column] = field(default_factory=dict)


# Steps of a field's parse: its text; what is read off the text (a date, its digits, whether it
# matches a number's pattern); what is read off those (a number, a card number's validity); a
# card number's masked form.
_STEPS = 4


# The row's raw texts joined (``_raw_line``), and whether any holds whitespace other than
# spaces (tabs, line breaks): one check a row, which spares the trimming of the rows that hold
# none (``rules.blank_to_null``)
_LINE, _PADDED = "__raw_line", "__padded"


def _raw_text(spec: FieldSpec) -> Column:
    parts = [rules.blank_to_null(F.col(bronze_column(c)), F.col(_PADDED)) for c in spec.source]
    # a field built from several columns (date and time apart) is empty if any part is
    text = parts[0] if len(parts) == 1 else \
        F.when(reduce(and_, [p.isNotNull() for p in parts]), F.concat_ws(spec.separator, *parts))
    if spec.strip_prefix:
        # a comparison, not a regular expression (one a row: 1-2% of a parse's CPU)
        text = F.when(text.startswith(spec.strip_prefix),
                      F.substring(text, len(spec.strip_prefix) + 1, 2**31 - 1)).otherwise(text)
    if spec.lower:
        text = F.lower(text)
    if spec.upper:
        text = F.upper(text)
    return text


def _range_reasons(spec: FieldSpec, value: Column) -> list[Column]:
    reason = spec.reason or rules.OUT_OF_RANGE
    checks = []
    if spec.min is not None:
        checks.append(rules.reason_if(value < F.lit(spec.min), reason))
    if spec.max is not None:
        checks.append(rules.reason_if(value > F.lit(spec.max), reason))
    return checks


def _parse_field(name: str, spec: FieldSpec, source: SourceConfig, is_key: bool,
                 references: Mapping[str, frozenset[str]], tokenize: Tokenizer) -> _Parsed:
    # Every intermediate value is a column of its own step, computed once per row. Written as
    # one expression, Spark evaluates a part again wherever it sits in a conditional branch
    # (the second operand of AND, a CASE branch): a field's text was trimmed again for each
    # rule that read it, and trimming took a quarter of the parse's CPU time (1 M rows).
    steps: tuple[dict[str, Column], ...] = tuple({} for _ in range(_STEPS))

    def step(index: int, label: str, column: Column) -> Column:
        temporary = f"__{label}_{name}"
        steps[index][temporary] = column
        return F.col(temporary)

    text = step(0, "text", _raw_text(spec))
    present = text.isNotNull()
    reasons: list[Column] = []
    pii_class = source.field_pii(name)
    kind = spec.type
    if kind == "string":
        value = text
    # each pattern is matched once a field (its own column), however many parses read it: a
    # regular expression costs more than the cast it guards
    elif kind in ("int", "long"):
        whole = step(1, "whole", text.rlike(rules.INTEGER))
        numeric = step(1, "numeric", text.rlike(rules.DECIMAL))
        value = step(2, "value", rules.parse_integer(text, kind, whole))
        reasons.append(rules.reason_if(present & ~whole, rules.BAD_NUMBER))
        # a whole number too large for the column's type
        reasons.append(rules.reason_if(whole & value.isNull(), spec.reason or rules.OUT_OF_RANGE))
        reasons += _range_reasons(spec, step(2, "wide", rules.wide_decimal(text, numeric)))
    elif kind == "double" or kind.startswith("decimal"):
        numeric = step(1, "numeric", text.rlike(rules.DECIMAL))
        value = step(2, "value", rules.parse_decimal(text, kind, numeric))
        wide = step(2, "wide", rules.wide_decimal(text, numeric))
        reasons.append(rules.reason_if(present & wide.isNull(), rules.BAD_NUMBER))
        reasons.append(rules.reason_if(wide.isNotNull() & value.isNull(),
                                       spec.reason or rules.OUT_OF_RANGE))
        reasons += _range_reasons(spec, wide)
    elif kind == "boolean":
        value = step(1, "value", rules.parse_boolean(text))
        reasons.append(rules.reason_if(present & value.isNull(), rules.BAD_BOOLEAN))
    elif kind == "date":
        value = step(1, "value", rules.parse_date(text, spec.formats))
        reasons.append(rules.reason_if(present & value.isNull(), rules.BAD_DATE))
    else:  # timestamp
        value = step(1, "value", rules.parse_timestamp(text, spec.formats, source.timezone))
        reasons.append(rules.reason_if(present & value.isNull(), rules.BAD_TIMESTAMP))
    if spec.accepted:
        reasons.append(rules.reason_if(present & ~text.isin(*spec.accepted),
                                       spec.reason or rules.INVALID_VALUE))
    if spec.reference:
        known = sorted(references[spec.reference])
        reasons.append(rules.reason_if(present & ~text.isin(*known),
                                       spec.reason or rules.INVALID_VALUE))
    if spec.required or is_key:
        reasons.append(rules.reason_if(~present, rules.MISSING_KEY if is_key
                                       else rules.MISSING_REQUIRED))

    names = output_columns(name, pii_class)
    raw: dict[str, Column] = {}
    if pii_class == "pan":
        digits = step(1, "digits", pii.digits_only(text))
        valid = step(2, "valid", pii.valid_pan(digits))
        reasons.append(rules.reason_if(present & ~valid, rules.INVALID_CARD_NUMBER))
        masked = step(3, "masked", F.when(valid, pii.mask_digits(digits))
                      .when(present, pii.mask_pan(digits)))
        outputs = {names[0]: F.when(valid, tokenize(digits)), names[1]: masked}
        if len(spec.source) == 1 and not (spec.strip_prefix or spec.lower or spec.upper):
            # the raw column's masked value: ``mask_pan(digits_only(trim(raw)))``, which
            # ``_raw_values`` computed for every row before (an empty text masks to "")
            raw[spec.source[0]] = F.coalesce(masked, F.lit(""))
    elif pii_class == "identifier":
        outputs = {names[0]: F.when(present, tokenize(text))}
    elif pii_class == "birth_date":
        outputs = {names[0]: F.year(value)}
    else:
        outputs = {names[0]: value}
    return _Parsed(steps, outputs, reasons, raw)


def _raw_values(source: SourceConfig, parsed: Mapping[str, Column]) -> Column:
    """The raw values for operators, as a struct of text (``classify`` writes it as JSON): the
    card number masked, other personal data replaced by its class. A card number typed into
    another column (free text) is masked as the quarantine keeps them
    (``lakehouse.silver.batch.to_quarantine``), the only rows whose raw values are kept: which
    rows those are is known only once the batch's duplicates are settled (a row that passes
    every rule may conflict with another). Written as JSON for those rows only: for every row,
    that was a tenth of the parse's time (1.5 s per 1 M rows). ``parsed``: raw column -> its
    value as kept here, where the parse of a field has it (``_Parsed.raw``): a card number is
    masked once a row, not once more here (with two regular expressions)."""
    malformed = F.col(CORRUPT).isNotNull()
    entries = []
    for column in source.stored_layout:
        raw = F.col(bronze_column(column.name))
        if column.pii == "pan":
            raw = F.when(raw.isNotNull(), parsed[column.name] if column.name in parsed
                         else pii.mask_pan(pii.digits_only(F.trim(raw))))
        elif column.pii != "none":
            raw = F.when(raw.isNotNull(), F.lit(f"<{column.pii}>"))
        # A malformed row's values are not where their columns say (a short CSV row shifts the
        # card number and names into other columns): only its redacted line is kept.
        entries.append(F.when(~malformed, raw).alias(column.name))
    # unbroken digit runs are masked whether or not they pass Luhn (a mistyped card number is
    # still one)
    line = F.when(malformed, pii.redact_digit_runs(F.col(CORRUPT))).alias("_line")
    return F.struct(*entries, line)


def _raw_line(source: SourceConfig) -> Column:
    """A row's raw texts joined (a null as NUL), its corrupt line last: what the raw hash
    digests, and what the row-level checks scan once instead of every text apart."""
    raws = [F.coalesce(F.col(bronze_column(c.name)), F.lit("\u0000")) for c in source.stored_layout]
    return F.concat_ws("\u0001", *raws, F.coalesce(F.col(CORRUPT), F.lit("")))


def _undecodable() -> Column:
    """``malformed_row`` where the reader replaced bytes that are invalid in the source's
    encoding (a Latin-1 byte in a UTF-8 file): the value as landed is lost, so the row must not
    be published as if it were intact."""
    return rules.reason_if(F.col(_LINE).contains(rules.REPLACEMENT_CHARACTER),
                           rules.MALFORMED_ROW)


def _one_row(spark: SparkSession) -> DataFrame:
    """One row written in the query (an inline table): Spark's optimizer evaluates constant
    expressions over it while planning and returns the result without a Spark job. As a run's
    first query the check takes 0.5 s this way, 1.5 s over ``spark.range(1)``."""
    return spark.sql("SELECT * FROM VALUES (1) AS t(one)")


def check_parsing(spark: SparkSession, sources: Iterable[SourceConfig],
                  references: Mapping[str, frozenset[str]]) -> None:
    """What only a run can check in the sources' fields, before any is read: each reference list
    exists, and Spark accepts each date and timestamp pattern for parsing (its rules: e.g. no
    week-based or format-only letters). A ConfigError names the source, field and pattern."""
    patterns = []
    for source in sources:
        for name, spec in source.fields.items():
            where = f"source {source.name}: fields.{name}"
            if spec.reference and spec.reference not in references:
                raise ConfigError(f"{where}.reference: no reference list {spec.reference!r} "
                                  f"(the reference folder has: {', '.join(sorted(references))})")
            parse = F.to_date if spec.type == "date" else F.to_timestamp
            patterns += [(where, pattern, parse(F.lit("2024-01-31 12:00:00"), pattern))
                         for pattern in spec.formats if spec.type in ("date", "timestamp")]
    if not patterns:
        return
    try:  # one query for all, each pattern alone only when one fails
        _one_row(spark).select(*[p for _, _, p in patterns]).collect()
        return
    except (CapturedException, Py4JJavaError):
        pass
    for where, pattern, parsed in patterns:
        try:
            _one_row(spark).select(parsed).collect()
        except SparkUpgradeException:
            raise ConfigError(f"{where}.formats: Spark does not accept the pattern {pattern!r} "
                              "for parsing (see https://spark.apache.org/docs/latest/"
                              "sql-ref-datetime-pattern.html)") from None
        except (CapturedException, Py4JJavaError) as error:
            reason = (str(error) if isinstance(error, CapturedException)
                      else str(error.java_exception))
            raise ConfigError(f"{where}.formats: Spark does not accept the pattern {pattern!r} "
                              f"for parsing: {reason.splitlines()[0]}") from None


def parse_fields(source: SourceConfig, references: Mapping[str, frozenset[str]],
                 tokenize: Tokenizer) -> Callable[[DataFrame], DataFrame]:
    """Bronze rows of ``source`` -> typed fields + ``reasons`` + lineage + raw values."""
    parsed = {name: _parse_field(name, spec, source, name in source.natural_key, references,
                                 tokenize)
              for name, spec in source.fields.items()}

    tokenized = bool(_tokenized(source))

    def transform(bronze: DataFrame) -> DataFrame:
        if tokenized:
            bronze = tokenize.join(bronze)  # the key's columns, which the tokens read
        bronze = (bronze.withColumn(_LINE, _raw_line(source))
                  .withColumn(_PADDED, rules.other_whitespace(F.col(_LINE))))
        for index in range(_STEPS):
            columns = [c.alias(n) for p in parsed.values() for n, c in p.steps[index].items()]
            if columns:
                bronze = bronze.select("*", *columns)
        malformed = rules.reason_if(F.col(CORRUPT).isNotNull(), rules.MALFORMED_ROW)
        all_reasons = [malformed, _undecodable()] + [r for p in parsed.values()
                                                            for r in p.reasons]
        # distinct codes, nulls dropped, in rule order (no lambda: Spark interprets those per row)
        reasons = F.array_except(F.array(*all_reasons), F.array(F.lit(None).cast("string")))
        outputs = [column.alias(name) for p in parsed.values()
                   for name, column in p.outputs.items()]
        return (bronze
                .select(
                    *outputs,
                    reasons.alias(REASONS),
                    F.sha2(F.col(_LINE), 256).alias(RAW_HASH),
                    _raw_values(source, {c: v for p in parsed.values()
                                         for c, v in p.raw.items()}).alias(RAW_VALUES),
                    F.lit(source.name).alias("source"),
                    *[F.col(c) for c in LINEAGE[1:]],
                    F.col(LANDED_AT)))

    return transform
