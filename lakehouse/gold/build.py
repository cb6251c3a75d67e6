"""All Gold tables from one Silver snapshot: the pure core of silver -> gold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.customers import (
    card_owners,
    customer_changes,
    customer_monthly_spend,
    customer_summary,
    earlier_by_customer,
    settle_ties,
    update_customer_monthly_spend,
    update_customer_summary,
    with_customer_key,
)
from lakehouse.gold.fraud import fraud_daily, update_fraud_daily
from lakehouse.gold.loans import loan_default_features, update_loan_default_features
from lakehouse.gold.rewards import with_reward_points
from lakehouse.io.lake import TableId

CUSTOMER_SUMMARY = TableId("gold", "customer_summary")
CUSTOMER_MONTHLY_SPEND = TableId("gold", "customer_monthly_spend")
FRAUD_DAILY = TableId("gold", "fraud_daily")
LOAN_DEFAULT_FEATURES = TableId("gold", "loan_default_features")
GOLD_TABLES = (CUSTOMER_SUMMARY, CUSTOMER_MONTHLY_SPEND, FRAUD_DAILY, LOAN_DEFAULT_FEATURES)
SILVER_INPUTS = (TableId("silver", "transactions"), TableId("silver", "customers"),
                 TableId("silver", "customers_history"), TableId("silver", "loans"))
# How a Gold table's files are laid out: a file per month (about), so that an update, which
# rewrites only the months its transactions fall in, rewrites only their files.
CLUSTER_BY = {CUSTOMER_MONTHLY_SPEND: "month"}


@dataclass(frozen=True)
class Slice:
    """The rows of a Gold table that an update rewrites, those with ``column >= start``; the
    table's other rows stay as they are, in the files they are in."""

    column: str
    start: date

    def holds(self) -> Column:
        """Whether a row is in the slice, as a filter Spark pushes down to the Parquet reader
        (which then skips the other months' row groups); null where ``column`` is null."""
        return F.col(self.column) >= F.lit(self.start)

    def outside(self) -> Column:
        """Whether a row is kept by the write: not in the slice, a null ``column`` included (the
        write's predicate does not match it either)."""
        return (F.col(self.column) < F.lit(self.start)) | F.col(self.column).isNull()

    @property
    def predicate(self) -> str:
        """The rows the write replaces, in SQL."""
        return f"{self.column} >= '{self.start.isoformat()}'"


def update_slices(first_day: date) -> dict[TableId, Slice]:
    """The rows an update with transactions from ``first_day`` on rewrites, for each table it
    does not rewrite whole: the monthly spend from ``first_day``'s month on (a day's
    transactions add to their month's rows only)."""
    return {CUSTOMER_MONTHLY_SPEND: Slice("month", first_day.replace(day=1))}


@dataclass(frozen=True)
class SilverSnapshot:
    transactions: DataFrame
    customers: DataFrame
    customers_history: DataFrame
    loans: DataFrame
    reward_rules: DataFrame


# the transaction columns Gold is built from (every other Silver column is left out, so the
# enriched frame a build stages is a third of the width of silver.transactions)
ENRICHED_COLUMNS = ("trans_id", "trans_ts", "trans_date", "card_token", "customer_id",
                    "customer_key", "merchant", "category", "amount", "is_fraud",
                    "reward_points", "state", "birth_year")


def keyed_transactions(silver: SilverSnapshot) -> DataFrame:
    """Transactions with their customer (``customer_id``, ``customer_key``)."""
    return silver.transactions.transform(with_customer_key(card_owners(
        silver.customers_history)))


def enriched_transactions(silver: SilverSnapshot) -> DataFrame:
    """Transactions with their customer (``customer_key``) and earned ``reward_points``:
    the ``ENRICHED_COLUMNS``."""
    return (keyed_transactions(silver)
            .transform(with_reward_points(silver.reward_rules))
            .select(*ENRICHED_COLUMNS))


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


def earlier_customers(silver: SilverSnapshot, current: dict[TableId, DataFrame],
                      new_enriched: DataFrame, earlier: DataFrame) -> DataFrame:
    """``earlier_by_customer``: one pass over ``earlier``, the Silver transactions ``current``
    was built from (the snapshot without the new rows), for ``update_gold`` (after
    ``settled_customers``) and for the gates (``silver_per_customer``)."""
    return earlier_by_customer(new_enriched,
                               keyed_transactions(replace(silver, transactions=earlier)),
                               current[CUSTOMER_SUMMARY])


def settled_customers(lookup: DataFrame, silver: SilverSnapshot, new_enriched: DataFrame,
                      earlier: DataFrame) -> DataFrame:
    """``earlier_customers``' ``lookup`` after ``settle_ties`` (computed once, staged, it is
    read again only for the few customers it left undecided)."""
    return settle_ties(lookup, keyed_transactions(replace(silver, transactions=earlier)),
                       new_enriched)


def update_gold(silver: SilverSnapshot, current: dict[TableId, DataFrame],
                new_enriched: DataFrame, earlier: DataFrame, as_of: date,
                slices: dict[TableId, Slice]) -> dict[TableId, DataFrame]:
    """Every Gold table after transactions were appended to Silver, equal to ``build_gold`` of
    the whole snapshot. ``current``: the Gold tables as built from the snapshot without the new
    rows; ``new_enriched``: the new rows' ``enriched_transactions``; ``earlier``: their
    ``settled_customers``; master data, loans and reward rules unchanged since ``current``, and
    ``as_of`` in the same year as its. ``slices``: ``update_slices`` of the new rows' first
    day; a table named there is returned as its slice's rows only (its rows outside the slice
    are unchanged).

    Every table adds the new rows' aggregates to its rows (``update_customer_summary`` says
    how customer rows are updated); nothing is recomputed from the whole snapshot."""
    return {CUSTOMER_SUMMARY: update_summary(silver, current, new_enriched, earlier, as_of),
            **update_additive(silver, current, new_enriched, slices)}


def summary_changes(silver: SilverSnapshot, current: dict[TableId, DataFrame],
                    new_enriched: DataFrame) -> DataFrame:
    """``customer_changes`` for ``update_summary``: what its update needs besides the earlier
    rows (so it can be computed while they are read)."""
    return customer_changes(current[CUSTOMER_SUMMARY], new_enriched,
                            current[CUSTOMER_MONTHLY_SPEND], silver.customers)


def update_summary(silver: SilverSnapshot, current: dict[TableId, DataFrame],
                   new_enriched: DataFrame, earlier: DataFrame, as_of: date,
                   changes: DataFrame | None = None) -> DataFrame:
    """``update_gold``'s customer summary. ``changes``: ``summary_changes``, when the caller
    has computed it already."""
    if changes is None:
        changes = summary_changes(silver, current, new_enriched)
    return update_customer_summary(current[CUSTOMER_SUMMARY], changes, earlier, F.lit(as_of))


def update_additive(silver: SilverSnapshot, current: dict[TableId, DataFrame],
                    new_enriched: DataFrame,
                    slices: dict[TableId, Slice]) -> dict[TableId, DataFrame]:
    """The tables of ``update_gold`` other than the customer summary: they only add the new
    rows' aggregates to their rows, so they need nothing from the earlier rows (and can be
    computed while ``earlier_customers`` reads them)."""
    monthly = slices[CUSTOMER_MONTHLY_SPEND]
    return {
        CUSTOMER_MONTHLY_SPEND: update_customer_monthly_spend(
            current[CUSTOMER_MONTHLY_SPEND].where(monthly.holds()), new_enriched),
        FRAUD_DAILY: update_fraud_daily(current[FRAUD_DAILY], new_enriched),
        LOAN_DEFAULT_FEATURES: update_loan_default_features(current[LOAN_DEFAULT_FEATURES],
                                                            silver.loans, new_enriched),
    }
