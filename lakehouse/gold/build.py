"""All Gold tables from one Silver snapshot: the pure core of silver -> gold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.customers import (
    card_owners,
    customer_monthly_spend,
    customer_summary,
    with_customer_key,
)
from lakehouse.gold.fraud import fraud_daily
from lakehouse.gold.loans import loan_default_features
from lakehouse.gold.rewards import with_reward_points
from lakehouse.io.lake import TableId

CUSTOMER_SUMMARY = TableId("gold", "customer_summary")
CUSTOMER_MONTHLY_SPEND = TableId("gold", "customer_monthly_spend")
FRAUD_DAILY = TableId("gold", "fraud_daily")
LOAN_DEFAULT_FEATURES = TableId("gold", "loan_default_features")
GOLD_TABLES = (CUSTOMER_SUMMARY, CUSTOMER_MONTHLY_SPEND, FRAUD_DAILY, LOAN_DEFAULT_FEATURES)
SILVER_INPUTS = (TableId("silver", "transactions"), TableId("silver", "customers"),
                 TableId("silver", "customers_history"), TableId("silver", "loans"))


@dataclass(frozen=True)
class SilverSnapshot:
    transactions: DataFrame
    customers: DataFrame
    customers_history: DataFrame
    loans: DataFrame
    reward_rules: DataFrame


def enriched_transactions(silver: SilverSnapshot) -> DataFrame:
    """Transactions with their customer (``customer_key``) and earned ``reward_points``."""
    return (silver.transactions
            .transform(with_customer_key(card_owners(silver.customers_history)))
            .transform(with_reward_points(silver.reward_rules)))


def build_gold(silver: SilverSnapshot, as_of: date,
               enriched: DataFrame | None = None) -> dict[TableId, DataFrame]:
    """Every Gold table; ``as_of`` is the reference day (recency, ages). ``enriched``: the
    snapshot's ``enriched_transactions``, when the caller has already computed them."""
    tx = enriched if enriched is not None else enriched_transactions(silver)
    summary = customer_summary(tx, silver.customers, silver.loans, F.lit(as_of))
    return {
        CUSTOMER_SUMMARY: summary,
        CUSTOMER_MONTHLY_SPEND: customer_monthly_spend(tx),
        FRAUD_DAILY: fraud_daily(tx),
        LOAN_DEFAULT_FEATURES: loan_default_features(silver.loans, silver.customers_history, tx),
    }
