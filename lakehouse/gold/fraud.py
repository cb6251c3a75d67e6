"""gold.fraud_daily: fraud by day, category and state."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.gold.additive import add_up
from lakehouse.gold.customers import MONEY

FRAUD_KEYS = ("trans_date", "category", "state")
FRAUD_SUMS = {"txn_count": T.LongType(), "fraud_count": T.LongType(), "amount": MONEY,
              "fraud_amount": MONEY}


def fraud_daily(transactions: DataFrame) -> DataFrame:
    """One row per UTC day, category and cardholder state: volume, fraud count, rate, amount."""
    return _with_rate(transactions.groupBy(*FRAUD_KEYS).agg(
        F.count("*").alias("txn_count"),
        F.sum(F.col("is_fraud").cast("int")).cast("long").alias("fraud_count"),
        F.sum("amount").cast(MONEY).alias("amount"),
        F.sum(F.when(F.col("is_fraud"), F.col("amount")).otherwise(0)).cast(MONEY)
        .alias("fraud_amount")))


def update_fraud_daily(current: DataFrame, new_transactions: DataFrame) -> DataFrame:
    """``current`` with new transactions added (sums added, the rate computed again)."""
    return _with_rate(add_up(current, fraud_daily(new_transactions), FRAUD_KEYS, FRAUD_SUMS))


def _with_rate(totals: DataFrame) -> DataFrame:
    return (totals
            .withColumn("fraud_rate", (F.col("fraud_count") / F.col("txn_count")).cast("double"))
            .select("trans_date", "category", "state", "txn_count", "fraud_count", "fraud_rate",
                    "amount", "fraud_amount"))
