"""Reward points: reference rules (points per currency unit per category, valid between dates)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import ConfigError
from lakehouse.runtime.spark import local_frame

RULES_SCHEMA = T.StructType([
    T.StructField("category", T.StringType()),
    T.StructField("points_per_unit", T.DecimalType(6, 2)),
    T.StructField("valid_from", T.DateType()),
    T.StructField("valid_to", T.DateType()),
])


_RATE_DIGITS, _RATE_SCALE = 6, 2  # RULES_SCHEMA's decimal(6,2)


def _rule(path: Path, line: int, row: dict[str, str | None]) -> tuple:
    def bad(detail: str) -> ConfigError:
        return ConfigError(f"{path} line {line}: invalid reward rule: {detail}")

    def field(name: str) -> str:
        value = row.get(name)
        if value is None:
            raise bad(f"missing {name}")
        return value.strip()

    try:
        rate = Decimal(field("points_per_unit"))
    except ArithmeticError:
        raise bad(f"points_per_unit {field('points_per_unit')!r} is not a number") from None
    try:
        start = date.fromisoformat(field("valid_from"))
        end = date.fromisoformat(field("valid_to")) if field("valid_to") else None
    except ValueError as exc:
        raise bad(f"{exc} (dates are YYYY-MM-DD)") from None
    exponent = rate.as_tuple().exponent
    if not rate.is_finite() or rate < 0 or (isinstance(exponent, int) and -exponent > _RATE_SCALE) \
            or rate.adjusted() >= _RATE_DIGITS - _RATE_SCALE:
        raise bad(f"points_per_unit {rate} must be between 0 and "
                  f"{10 ** (_RATE_DIGITS - _RATE_SCALE)} with at most {_RATE_SCALE} decimals")
    if end is not None and end < start:
        raise bad(f"valid_to {end} is before valid_from {start}")
    return field("category"), rate, start, end


def load_rules(spark: SparkSession, path: Path) -> DataFrame:
    """The reward rules file (``conf/reference/reward_rules.csv``) as a small frame; any
    malformed, impossible or overlapping rule is a configuration error, not a wrong total."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [_rule(path, i, r) for i, r in enumerate(csv.DictReader(handle), start=2)]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read reward rules: {exc.strerror}") from None
    if not rows:
        raise ConfigError(f"{path}: no reward rules (a header and at least one rule expected)")
    by_category: dict[str, list[tuple[date, date]]] = {}
    for category, _, start, end in rows:
        by_category.setdefault(category, []).append((start, end or date.max))
    for category, spans in by_category.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start <= end:
                # a transaction would match two rules and be counted twice
                raise ConfigError(f"{path}: reward rules for {category!r} overlap on {start}")
    return local_frame(spark, rows, RULES_SCHEMA)


def with_reward_points(rules: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Adds ``reward_points``: floor(amount x the category's rate on the transaction day).

    A category with no rule valid that day earns nothing, and neither does a fraudulent
    transaction.
    """

    def transform(transactions: DataFrame) -> DataFrame:
        r = rules.alias("r")
        on: Column = ((F.col("t.category") == F.col("r.category"))
                      & (F.col("t.trans_date") >= F.col("r.valid_from"))
                      & (F.col("t.trans_date") <= F.coalesce(F.col("r.valid_to"),
                                                             F.lit("9999-12-31").cast("date"))))
        joined = transactions.alias("t").join(F.broadcast(r), on, "left")
        points = F.when(F.col("t.is_fraud"), F.lit(0)).otherwise(
            F.coalesce(F.floor(F.col("t.amount") * F.col("r.points_per_unit")), F.lit(0)))
        return joined.select("t.*", points.cast("long").alias("reward_points"))

    return transform
