"""gold.fraud_daily: fraud by day, category and state."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.customers import MONEY


def fraud_daily(transactions: DataFrame) -> DataFrame:
    """One row per UTC day, category and cardholder state: volume, fraud count, rate, amount."""
    return (transactions.groupBy("trans_date", "category", "state")
            .agg(F.count("*").alias("txn_count"),
                 F.sum(F.col("is_fraud").cast("int")).cast("long").alias("fraud_count"),
                 F.sum("amount").cast(MONEY).alias("amount"),
                 F.sum(F.when(F.col("is_fraud"), F.col("amount")).otherwise(0)).cast(MONEY)
                 .alias("fraud_amount"))
            .withColumn("fraud_rate", (F.col("fraud_count") / F.col("txn_count")).cast("double"))
            .select("trans_date", "category", "state", "txn_count", "fraud_count", "fraud_rate",
                    "amount", "fraud_amount"))
