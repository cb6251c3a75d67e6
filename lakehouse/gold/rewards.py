"""Reward points: reference rules (points per currency unit per category, valid between dates)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import ConfigError

RULES_SCHEMA = T.StructType([
    T.StructField("category", T.StringType()),
    T.StructField("points_per_unit", T.DecimalType(6, 2)),
    T.StructField("valid_from", T.DateType()),
    T.StructField("valid_to", T.DateType()),
])


def load_rules(spark: SparkSession, path: Path) -> DataFrame:
    """The reward rules file (``conf/reference/reward_rules.csv``) as a small frame."""
    from datetime import date
    from decimal import Decimal

    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(r["category"].strip(), Decimal(r["points_per_unit"]),
                     date.fromisoformat(r["valid_from"]),
                     date.fromisoformat(r["valid_to"]) if r["valid_to"].strip() else None)
                    for r in csv.DictReader(handle)]
    except (OSError, KeyError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{path}: cannot read reward rules: {exc}") from None
    by_category: dict[str, list[tuple[date, date]]] = {}
    for category, _, start, end in rows:
        by_category.setdefault(category, []).append((start, end or date.max))
    for category, spans in by_category.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start <= end:
                # a transaction would match two rules and be counted twice
                raise ConfigError(f"{path}: reward rules for {category!r} overlap on {start}")
    return spark.createDataFrame(rows, RULES_SCHEMA)


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
