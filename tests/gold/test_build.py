"""build_gold: every Gold table from one Silver snapshot, reconciling exactly with Silver."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.build import (
    CUSTOMER_MONTHLY_SPEND,
    CUSTOMER_SUMMARY,
    FRAUD_DAILY,
    GOLD_TABLES,
    LOAN_DEFAULT_FEATURES,
    SilverSnapshot,
    build_gold,
    earlier_customers,
    enriched_transactions,
    keyed_transactions,
    settled_customers,
    update_gold,
    update_slices,
)
from lakehouse.gold.expectations import silver_per_customer
from lakehouse.gold.rewards import load_rules
from lakehouse.io.lake import TableId
from tests.gold.silver_frames import (
    current_customers,
    customers_history,
    loans,
    transactions,
)

REPO_RULES = Path(__file__).resolve().parents[2] / "conf" / "reference" / "reward_rules.csv"
AS_OF = date(2024, 3, 1)
TOTAL = "decimal(20,2)"
TOTALS = "spend decimal(20,2), txns long, fraud long, fraud_amount decimal(20,2)"
CARD_NUMBER_COLUMN = re.compile(r"cc_num|card_num|card_no|\bpan\b", re.IGNORECASE)

VERSIONS = (
    # C1's credit score drops after the loan's default
    {"customer_id": "C1", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-1",
     "credit_score": 780},
    {"customer_id": "C1", "updated_at": "2024-02-15 00:00:00", "card_token": "tok-1",
     "credit_score": 520},
    {"customer_id": "C2", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-2"},
)
TRANSACTIONS = (
    {"card_token": "tok-1", "trans_ts": "2024-01-10 09:00:00", "category": "grocery_pos",
     "amount": "12.34"},
    {"card_token": "tok-1", "trans_ts": "2024-03-01 18:00:00", "category": "food_dining",
     "amount": "45.67", "is_fraud": True},
    {"card_token": "tok-1", "trans_ts": "2024-01-31 23:59:59", "category": "food_dining",
     "amount": "8.08"},
    {"card_token": "tok-9", "trans_ts": "2024-02-29 23:59:59", "category": "travel",
     "amount": "100.00", "state": "NV"},
    {"card_token": "tok-9", "trans_ts": "2024-03-01 00:00:00", "category": "travel",
     "amount": "0.01", "state": "NV", "is_fraud": True},
)
SNAPSHOTS = (
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2023-06-30", "status": "current",
     "origination_date": "2023-06-01"},
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2024-01-31", "status": "default",
     "origination_date": "2023-06-01", "days_past_due": 90},
    {"loan_id": "L2", "customer_id": "C2", "as_of_date": "2024-01-31", "status": "current"},
)


@pytest.fixture(scope="module")
def silver(spark) -> Iterator[SilverSnapshot]:
    snapshot = SilverSnapshot(
        transactions=transactions(spark, *TRANSACTIONS).cache(),
        customers=current_customers(spark, *VERSIONS),
        customers_history=customers_history(spark, *VERSIONS),
        loans=loans(spark, *SNAPSHOTS),
        reward_rules=load_rules(spark, REPO_RULES),
    )
    yield snapshot
    snapshot.transactions.unpersist()


@pytest.fixture(scope="module")
def gold(silver) -> Iterator[dict[TableId, DataFrame]]:
    tables = {table: df.cache() for table, df in build_gold(silver, AS_OF).items()}
    yield tables
    for df in tables.values():
        df.unpersist()


def totals(df: DataFrame, spend: str, txns: str, fraud: str,
           fraud_amount: str | None = None) -> DataFrame:
    """One row of totals of a Gold table: spend, transactions, frauds (and fraud amount)."""
    sums = [F.sum(spend).cast(TOTAL).alias("spend"), F.sum(txns).alias("txns"),
            F.sum(fraud).alias("fraud")]
    if fraud_amount:
        sums.append(F.sum(fraud_amount).cast(TOTAL).alias("fraud_amount"))
    return df.agg(*sums)


def silver_totals(tx: DataFrame, fraud_amount: bool = True) -> DataFrame:
    """The same totals straight from silver.transactions."""
    sums = [F.sum("amount").cast(TOTAL).alias("spend"), F.count("*").alias("txns"),
            F.sum(F.col("is_fraud").cast("long")).alias("fraud")]
    if fraud_amount:
        sums.append(F.sum(F.when(F.col("is_fraud"), F.col("amount"))).cast(TOTAL)
                    .alias("fraud_amount"))
    return tx.agg(*sums)


def test_build_gold_returns_the_four_gold_tables(gold):
    assert set(gold) == set(GOLD_TABLES)
    assert [str(t) for t in GOLD_TABLES] == ["gold.customer_summary",
                                             "gold.customer_monthly_spend", "gold.fraud_daily",
                                             "gold.loan_default_features"]
    assert all(isinstance(df, DataFrame) for df in gold.values())


def test_silver_totals_are_the_hand_computed_ones(spark, silver):
    expected = spark.createDataFrame([(Decimal("166.10"), 5, 2, Decimal("45.68"))], TOTALS)
    assert_df_equality(silver_totals(silver.transactions), expected, ignore_nullable=True)


def test_customer_summary_reconciles_with_silver(gold, silver):
    result = totals(gold[CUSTOMER_SUMMARY], "total_spend", "txn_count", "fraud_count",
                    "fraud_amount")
    assert_df_equality(result, silver_totals(silver.transactions), ignore_nullable=True)


def test_customer_monthly_spend_reconciles_with_silver(gold, silver):
    result = totals(gold[CUSTOMER_MONTHLY_SPEND], "spend", "txn_count", "fraud_count")
    expected = silver_totals(silver.transactions, fraud_amount=False)
    assert_df_equality(result, expected, ignore_nullable=True)


def test_reward_points_agree_between_summary_and_monthly_spend(gold):
    by_customer = gold[CUSTOMER_SUMMARY].agg(F.sum("reward_points").alias("points"))
    by_month = gold[CUSTOMER_MONTHLY_SPEND].agg(F.sum("reward_points").alias("points"))
    # grocery 12.34 x 1.5 = 18; food_dining 8.08 x 4 = 32; travel 100.00 x 5 = 500; frauds 0
    assert by_customer.first().points == by_month.first().points == 18 + 32 + 500


def test_fraud_daily_reconciles_with_silver(gold, silver):
    result = totals(gold[FRAUD_DAILY], "amount", "txn_count", "fraud_count", "fraud_amount")
    assert_df_equality(result, silver_totals(silver.transactions), ignore_nullable=True)


def test_gold_keys_are_unique(gold):
    summary_keys = [r.customer_key for r in gold[CUSTOMER_SUMMARY].select("customer_key")
                    .collect()]
    loan_ids = [r.loan_id for r in gold[LOAN_DEFAULT_FEATURES].select("loan_id").collect()]
    assert sorted(summary_keys) == ["C1", "C2", "card:tok-9"]
    assert sorted(loan_ids) == ["L1", "L2"]


def test_no_gold_table_has_a_card_number_column(gold):
    offending = {str(table): [c for c in df.columns if CARD_NUMBER_COLUMN.search(c)]
                 for table, df in gold.items()}
    assert offending == {str(table): [] for table in GOLD_TABLES}
    assert CARD_NUMBER_COLUMN.search("cc_num") and CARD_NUMBER_COLUMN.search("card_number")


def test_loan_features_use_the_credit_score_as_first_observed(gold):
    # L1 was first seen 2023-06-30, when C1's score was 780; it fell to 520 after the default
    # (2024-01-31), and silver.customers holds only that latest score
    scores = {r.loan_id: r.credit_score for r in gold[LOAN_DEFAULT_FEATURES].collect()}
    assert scores["L1"] == 780


def test_loan_features_use_card_behaviour_as_first_observed(gold):
    # every C1 transaction is in 2024, after L1 was first seen on 2023-06-30
    counts = {r.loan_id: r.card_txn_count for r in gold[LOAN_DEFAULT_FEATURES].collect()}
    assert counts["L1"] == 0


# update_gold: the same tables as a rebuild, from the last build and the appended rows only

UPDATE_VERSIONS = (
    {"customer_id": "C1", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-1"},
    {"customer_id": "C1", "updated_at": "2024-01-20 00:00:00", "card_token": "tok-1b"},
    {"customer_id": "C2", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-2",
     "birth_year": None},
    {"customer_id": "C3", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-3"},
)
UPDATE_LOANS = (
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2024-02-10", "status": "current"},
    {"loan_id": "L2", "customer_id": "C2", "as_of_date": "2024-01-31", "status": "late",
     "days_past_due": 30},
)
EARLIER = (
    {"card_token": "tok-1", "trans_ts": "2024-01-05 10:00:00", "category": "grocery_pos",
     "amount": "20.00", "merchant": "m1"},
    {"card_token": "tok-1", "trans_ts": "2024-02-01 10:00:00", "category": "travel",
     "amount": "80.00", "merchant": "m2", "is_fraud": True},
    {"card_token": "tok-2", "trans_ts": "2024-01-07 08:00:00", "category": "food_dining",
     "amount": "15.50", "state": "OR"},
    {"card_token": "tok-2", "trans_ts": "2024-02-20 08:00:00", "category": "food_dining",
     "amount": "4.50", "birth_year": 1950},
    {"card_token": "tok-8", "trans_ts": "2024-02-21 12:00:00", "category": "grocery_pos",
     "amount": "7.25", "state": None, "trans_id": "f" * 32},
    {"card_token": "tok-7", "trans_ts": "2024-01-02 12:00:00", "category": "travel",
     "amount": "5.00", "state": "ID", "birth_year": 2010},
)
APPENDED = (
    # late: before L1 was first seen, so L1's card columns change; a merchant C1 has used
    {"card_token": "tok-1", "trans_ts": "2024-02-05 09:00:00", "category": "travel",
     "amount": "30.00", "merchant": "m1"},
    # C1's second card, on a day C1 was already active
    {"card_token": "tok-1b", "trans_ts": "2024-02-01 18:00:00", "category": "grocery_pos",
     "amount": "9.99", "merchant": "m3"},
    # C3's first transaction, a new month and the new reference day
    {"card_token": "tok-3", "trans_ts": "2024-03-04 11:00:00", "category": "health_fitness",
     "amount": "60.00"},
    # a card the bank has no record of, no state: same day, category and state as tok-8's
    {"card_token": "tok-9", "trans_ts": "2024-02-21 13:00:00", "category": "grocery_pos",
     "amount": "1.00", "state": None, "is_fraud": True},
    # at the very time of tok-8's latest transaction, which still wins (its trans_id is
    # greater): tok-8's profile stays the earlier row's
    {"card_token": "tok-8", "trans_ts": "2024-02-21 12:00:00", "category": "travel",
     "amount": "3.00", "state": "WA", "birth_year": 1950, "trans_id": "0" * 32},
    # a later transaction moves tok-7's state and age band; its top category changes
    {"card_token": "tok-7", "trans_ts": "2024-02-02 12:00:00", "category": "grocery_pos",
     "amount": "10.01", "state": "UT", "birth_year": 1970},
)


def _snapshot(spark, rows) -> SilverSnapshot:
    return SilverSnapshot(transactions(spark, *rows),
                          current_customers(spark, *UPDATE_VERSIONS),
                          customers_history(spark, *UPDATE_VERSIONS),
                          loans(spark, *UPDATE_LOANS), load_rules(spark, REPO_RULES))


def _as_of(snapshot: SilverSnapshot) -> date:
    return snapshot.transactions.agg(F.max("trans_date")).first()[0]


class _Update(NamedTuple):
    current: dict[TableId, DataFrame]  # built from the earlier rows
    after: SilverSnapshot  # earlier and appended rows
    new_rows: DataFrame  # the appended rows, enriched
    earlier: DataFrame  # earlier_customers
    updated: dict[TableId, DataFrame]  # as written: a sliced table's kept rows and its slice
    rebuilt: dict[TableId, DataFrame]
    slices: dict[TableId, DataFrame]  # update_gold's frames of the tables it slices


def _update(spark, earlier_rows, appended_rows) -> _Update:
    """Gold updated with ``appended_rows`` after a build of ``earlier_rows``, and Gold rebuilt
    from both."""
    before = _snapshot(spark, earlier_rows)
    # the last build, materialised as a Gold table would be
    current = {t: spark.createDataFrame(df.collect(), df.schema)
               for t, df in build_gold(before, _as_of(before)).items()}
    after = _snapshot(spark, earlier_rows + appended_rows)
    new_rows = enriched_transactions(SilverSnapshot(
        transactions(spark, *appended_rows), after.customers, after.customers_history,
        after.loans, after.reward_rules))
    earlier = earlier_customers(after, current, new_rows, before.transactions)
    settled = settled_customers(earlier, after, new_rows, before.transactions)
    slices = update_slices(new_rows.agg(F.min("trans_date")).first()[0])
    updated = update_gold(after, current, new_rows, settled, _as_of(after), slices)
    written = {t: current[t].where(slices[t].outside()).unionByName(df) if t in slices else df
               for t, df in updated.items()}
    rebuilt = {t: spark.createDataFrame(df.collect(), df.schema)
               for t, df in build_gold(after, _as_of(after)).items()}
    return _Update(current, after, new_rows, earlier, written, rebuilt,
                   {t: updated[t] for t in slices})


def test_a_refund_lets_a_category_without_new_spend_become_the_top_one(spark):
    # Silver's rules reject negative amounts, but the update must not depend on them: with a
    # refund, a category the new rows do not touch can overtake the earlier top category
    earlier_rows = (
        {"card_token": "tok-5", "trans_ts": "2024-01-05 10:00:00", "category": "travel",
         "amount": "50.00"},
        {"card_token": "tok-5", "trans_ts": "2024-01-06 10:00:00", "category": "food_dining",
         "amount": "40.00"},
        {"card_token": "tok-5", "trans_ts": "2024-01-07 10:00:00", "category": "grocery_pos",
         "amount": "1.00"})
    refund = ({"card_token": "tok-5", "trans_ts": "2024-01-08 10:00:00", "category": "travel",
               "amount": "-20.00"},)
    _, _, _, _, updated, rebuilt, _ = _update(spark, earlier_rows, refund)
    assert_df_equality(updated[CUSTOMER_SUMMARY], rebuilt[CUSTOMER_SUMMARY],
                       ignore_row_order=True, ignore_nullable=True)
    top = {r.customer_key: r.top_category for r in rebuilt[CUSTOMER_SUMMARY].collect()}
    assert top["card:tok-5"] == "food_dining"


def test_late_rows_keep_the_profile_of_the_earlier_latest_transaction(spark):
    # New rows older than a customer's latest transaction leave its profile (birth year and
    # state, for a card the bank has no record of) to the earlier latest rows: one row, or
    # several at the same time that the transaction id decides between
    earlier_rows = (
        {"card_token": "tok-4", "trans_ts": "2024-02-10 10:00:00", "state": "NV",
         "birth_year": 1960},
        {"card_token": "tok-6", "trans_ts": "2024-02-10 10:00:00", "state": "OR",
         "birth_year": 1970, "trans_id": "a" * 32},
        {"card_token": "tok-6", "trans_ts": "2024-02-10 10:00:00", "state": "WA",
         "birth_year": 1980, "trans_id": "b" * 32},
        {"card_token": "tok-6", "trans_ts": "2024-01-10 10:00:00", "state": "ID"})
    late = ({"card_token": "tok-4", "trans_ts": "2024-01-03 10:00:00", "state": "UT",
             "birth_year": 2000},
            {"card_token": "tok-6", "trans_ts": "2024-01-04 10:00:00", "state": "UT",
             "birth_year": 2000})
    _, _, _, _, updated, rebuilt, _ = _update(spark, earlier_rows, late)
    assert_df_equality(updated[CUSTOMER_SUMMARY], rebuilt[CUSTOMER_SUMMARY],
                       ignore_row_order=True, ignore_nullable=True)
    states = {r.customer_key: r.state for r in rebuilt[CUSTOMER_SUMMARY].collect()}
    assert (states["card:tok-4"], states["card:tok-6"]) == ("NV", "WA")


def test_update_gold_equals_a_rebuild_of_the_whole_snapshot(spark):
    current, after, new_rows, earlier, updated, rebuilt, slices = _update(spark, EARLIER,
                                                                          APPENDED)

    for table in GOLD_TABLES:
        assert_df_equality(updated[table], rebuilt[table], ignore_row_order=True,
                           ignore_nullable=True)
    # what the gates reconcile with, counted in the same pass, is the whole snapshot's
    assert_df_equality(silver_per_customer(new_rows, earlier),
                       silver_per_customer(keyed_transactions(after)), ignore_row_order=True,
                       ignore_nullable=True)
    # and the appended rows did change every table (the comparison above is not vacuous)
    for table in GOLD_TABLES:
        assert sorted(map(tuple, current[table].collect()), key=repr) != \
            sorted(map(tuple, rebuilt[table].collect()), key=repr), str(table)
    summary = {r.customer_key: r for r in rebuilt[CUSTOMER_SUMMARY].collect()}
    assert (summary["C1"].card_count, summary["C1"].active_days,
            summary["C1"].distinct_merchants) == (2, 3, 3)
    assert summary["C2"].recency_days == 13, "an untouched customer's recency moves on"
    assert summary["C2"].age_band == "65+", "birth year from the transactions, kept"
    assert (summary["card:tok-8"].state, summary["card:tok-8"].age_band) == (None, "25-34")
    assert (summary["card:tok-7"].state, summary["card:tok-7"].age_band,
            summary["card:tok-7"].top_category) == ("UT", "45-54", "grocery_pos")
    before = {r.customer_key: r for r in current[CUSTOMER_SUMMARY].collect()}
    assert (before["card:tok-7"].state, before["card:tok-7"].age_band,
            before["card:tok-7"].top_category) == ("ID", "under_18", "travel")
    loans_after = {r.loan_id: r.card_txn_count for r in rebuilt[LOAN_DEFAULT_FEATURES].collect()}
    assert loans_after["L1"] == 4, "both of C1's cards, up to 2024-02-10"
    # the monthly spend is rewritten from the appended rows' first month (February) on only
    months = sorted({r.month for r in slices[CUSTOMER_MONTHLY_SPEND].collect()})
    assert months == [date(2024, 2, 1), date(2024, 3, 1)]
    assert current[CUSTOMER_MONTHLY_SPEND].where(F.col("month") < date(2024, 2, 1)).count() == 3
