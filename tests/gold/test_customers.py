"""gold.customer_summary and gold.customer_monthly_spend, and the customer key behind them."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from lakehouse.gold.customers import (
    age_band,
    card_owners,
    customer_monthly_spend,
    customer_summary,
    quintile_score,
    rfm_segment,
    with_customer_key,
)
from lakehouse.gold.rewards import with_reward_points
from tests.gold.silver_frames import (
    current_customers,
    customers_history,
    d,
    loans,
    money,
    reward_rules,
    transactions,
    ts,
)

AS_OF = date(2024, 3, 31)


def rules(spark):
    return reward_rules(spark, ("grocery_pos", "1.5", "2019-01-01", None),
                        ("food_dining", "3.0", "2019-01-01", "2023-12-31"),
                        ("food_dining", "4.0", "2024-01-01", None),
                        ("travel", "5.0", "2019-01-01", None))


def enriched(spark, history, tx):
    """Transactions as build_gold hands them to the customer marts."""
    return (tx.transform(with_customer_key(card_owners(history)))
            .transform(with_reward_points(rules(spark))))


# ---- card owners and the customer key -------------------------------------------------------

def test_card_owners_picks_the_latest_owner_of_each_card(spark):
    history = customers_history(
        spark,
        {"customer_id": "C1", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-x"},
        {"customer_id": "C2", "updated_at": "2023-06-01 00:00:00", "card_token": "tok-x"},
        {"customer_id": "C1", "updated_at": "2023-09-01 00:00:00", "card_token": "tok-y"},
        {"customer_id": "C3", "updated_at": "2023-02-01 00:00:00", "card_token": None})
    expected = spark.createDataFrame([("tok-x", "C2"), ("tok-y", "C1")],
                                     "card_token string, customer_id string")
    assert_df_equality(card_owners(history), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_customer_key_is_the_customer_id_or_the_card_token(spark):
    owners = spark.createDataFrame([("tok-known", "C7")], "card_token string, customer_id string")
    tx = transactions(spark, {"trans_id": "a", "card_token": "tok-known"},
                      {"trans_id": "b", "card_token": "tok-stranger"})
    result = tx.transform(with_customer_key(owners)).select("trans_id", "customer_id",
                                                            "customer_key")
    expected = spark.createDataFrame([("a", "C7", "C7"), ("b", None, "card:tok-stranger")],
                                     "trans_id string, customer_id string, customer_key string")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


# ---- customer_summary on one small book ----------------------------------------------------
# C1: two cards (tok-1a, then tok-1b), three transactions, two loans (one paid off, then default)
# C2: a customer record and a loan, no transactions
# tok-9: a cardholder with no customer record, two transactions

VERSIONS = (
    {"customer_id": "C1", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-1a",
     "birth_year": 2000, "state": "NY", "credit_score": 720},
    {"customer_id": "C1", "updated_at": "2023-06-01 00:00:00", "card_token": "tok-1b",
     "birth_year": 2000, "state": "NY", "credit_score": 730},
    {"customer_id": "C2", "updated_at": "2023-01-01 00:00:00", "card_token": "tok-2",
     "birth_year": 1959, "state": "MA", "credit_score": 650},
)
TRANSACTIONS = (
    {"trans_id": "t1", "card_token": "tok-1a", "trans_ts": "2024-01-10 08:00:00",
     "category": "grocery_pos", "amount": "20.00", "merchant": "m1"},
    {"trans_id": "t2", "card_token": "tok-1a", "trans_ts": "2024-01-10 23:59:59",
     "category": "food_dining", "amount": "30.00", "merchant": "m2"},
    {"trans_id": "t3", "card_token": "tok-1b", "trans_ts": "2024-02-01 00:00:30",
     "category": "grocery_pos", "amount": "10.00", "merchant": "m1", "is_fraud": True},
    {"trans_id": "t5", "card_token": "tok-9", "trans_ts": "2024-03-01 10:00:00",
     "category": "travel", "amount": "100.00", "merchant": "m3", "state": "CA",
     "birth_year": 2001},
    {"trans_id": "t6", "card_token": "tok-9", "trans_ts": "2024-03-30 10:00:00",
     "category": "travel", "amount": "50.55", "merchant": "m3", "state": "NV",
     "birth_year": 1999},
)
LOANS = (
    # C1 / L1: current -> late: active, latest balance 850
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2024-01-31", "status": "current",
     "days_past_due": 0, "outstanding_balance": "900.00"},
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2024-02-29", "status": "late",
     "days_past_due": 30, "outstanding_balance": "850.00"},
    # C1 / L2: current -> paid_off -> default: not active, defaulted
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2023-11-30", "status": "current",
     "days_past_due": 0, "outstanding_balance": "700.00"},
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2023-12-31", "status": "paid_off",
     "days_past_due": 0, "outstanding_balance": "0.00"},
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2024-01-31", "status": "default",
     "days_past_due": 90, "outstanding_balance": "500.00"},
    # C2 / L4: late -> current: worst 45 days is not the latest 0
    {"loan_id": "L4", "customer_id": "C2", "as_of_date": "2024-01-31", "status": "late",
     "days_past_due": 45, "outstanding_balance": "1000.00"},
    {"loan_id": "L4", "customer_id": "C2", "as_of_date": "2024-02-29", "status": "current",
     "days_past_due": 0, "outstanding_balance": "950.00"},
)


@pytest.fixture(scope="module")
def summary(spark):
    history = customers_history(spark, *VERSIONS)
    tx = enriched(spark, history, transactions(spark, *TRANSACTIONS))
    result = customer_summary(tx, current_customers(spark, *VERSIONS), loans(spark, *LOANS),
                              F.lit(AS_OF)).cache()
    yield result
    result.unpersist()


def pick(summary, expected):
    """The summary's columns that ``expected`` names."""
    return summary.select(*expected.columns)


def rows(spark, ddl: str, *data):
    return spark.createDataFrame(list(data), ddl)


def test_summary_has_one_row_per_customer(summary):
    keys = [r.customer_key for r in summary.select("customer_key").collect()]
    assert sorted(keys) == ["C1", "C2", "card:tok-9"]


def test_summary_totals_are_exact(spark, summary):
    ddl = ("customer_key string, txn_count long, total_spend decimal(18,2), "
           "avg_spend decimal(18,2), fraud_count long, fraud_amount decimal(18,2), "
           "reward_points long")
    expected = rows(spark, ddl,
                    # food_dining 30.00 x 4.0 + grocery 20.00 x 1.5; the fraud earns nothing
                    ("C1", 3, money("60.00"), money("20.00"), 1, money("10.00"), 150),
                    ("C2", 0, money("0.00"), None, 0, money("0.00"), 0),
                    # avg 75.275 rounds half up; travel 100.00 x 5 + floor(50.55 x 5)
                    ("card:tok-9", 2, money("150.55"), money("75.28"), 0, money("0.00"), 752))
    assert_df_equality(pick(summary, expected), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_customer_without_transactions_has_zeros_and_no_activity(spark, summary):
    ddl = ("customer_key string, customer_id string, card_count long, txn_count long, "
           "total_spend decimal(18,2), avg_spend decimal(18,2), first_txn_ts timestamp, "
           "active_days long, distinct_merchants long, top_category string, "
           "reward_points long, rfm_segment string, state string, credit_score int")
    expected = rows(spark, ddl, ("C2", "C2", 0, 0, money("0.00"), None, None, 0, 0, None, 0,
                                 "no_activity", "MA", 650))
    assert_df_equality(pick(summary, expected).where("customer_key = 'C2'"), expected,
                       ignore_nullable=True)


def test_cardholder_without_customer_record_is_keyed_by_card(spark, summary):
    ddl = ("customer_key string, customer_id string, card_count long, state string, "
           "age_band string, credit_score int, loan_count long, ever_defaulted boolean")
    # state and birth year (1999 -> 25 in 2024) come from the latest transaction, not the first
    expected = rows(spark, ddl, ("card:tok-9", None, 1, "NV", "25-34", None, 0, False))
    assert_df_equality(pick(summary, expected).where("customer_key like 'card:%'"), expected,
                       ignore_nullable=True)


def test_customer_with_two_cards_is_one_row_over_both(spark, summary):
    ddl = "customer_key string, customer_id string, card_count long, txn_count long"
    expected = rows(spark, ddl, ("C1", "C1", 2, 3))
    assert_df_equality(pick(summary, expected).where("customer_id = 'C1'"), expected,
                       ignore_nullable=True)


def test_top_category_is_by_spend_with_alphabetical_tie_break(spark, summary):
    # C1: food_dining 30.00 vs grocery_pos 20.00 + 10.00 - a tie, food_dining sorts first
    ddl = "customer_key string, top_category string"
    expected = rows(spark, ddl, ("C1", "food_dining"), ("C2", None), ("card:tok-9", "travel"))
    assert_df_equality(pick(summary, expected), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_activity_dates_and_distinct_utc_days(spark, summary):
    ddl = ("customer_key string, first_txn_ts timestamp, last_txn_ts timestamp, "
           "active_days long, distinct_merchants long, recency_days int")
    # C1: 08:00 and 23:59:59 on 2024-01-10 are one UTC day; 00:00:30 on 2024-02-01 another
    expected = rows(spark, ddl,
                    ("C1", ts("2024-01-10 08:00:00"), ts("2024-02-01 00:00:30"), 2, 2, 59),
                    ("card:tok-9", ts("2024-03-01 10:00:00"), ts("2024-03-30 10:00:00"), 2, 1,
                     1))
    assert_df_equality(pick(summary, expected).where("txn_count > 0"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_loan_columns_use_latest_status_and_worst_history(spark, summary):
    ddl = ("customer_key string, loan_count long, active_loans long, "
           "loans_outstanding decimal(18,2), worst_days_past_due int, ever_defaulted boolean")
    expected = rows(spark, ddl,
                    # L1 late (active, 850.00); L2 current -> paid_off -> default
                    ("C1", 2, 1, money("850.00"), 90, True),
                    # L4 late 45 days, then current again
                    ("C2", 1, 1, money("950.00"), 45, False),
                    ("card:tok-9", 0, 0, money("0.00"), None, False))
    assert_df_equality(pick(summary, expected), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_age_band_and_rfm_segment_per_customer(spark, summary):
    # recency C1 59 days vs tok-9 1 day; frequency 3 vs 2; monetary 60.00 vs 150.55.
    # With two active customers the lower scores 3 (cume_dist 0.5) and the higher 5:
    # C1 R3 F5 M3 -> loyal; tok-9 R5 F3 M5 -> potential
    ddl = "customer_key string, age_band string, rfm_segment string"
    expected = rows(spark, ddl, ("C1", "18-24", "loyal"), ("C2", "65+", "no_activity"),
                    ("card:tok-9", "25-34", "potential"))
    assert_df_equality(pick(summary, expected), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_the_rankings_shuffle_the_customers_once(spark):
    # recency, frequency and monetary are ranked within the same partitioning (active or
    # not): one shuffle, then a sort per ranking (a shuffle per ranking cost a Spark stage
    # each in every build)
    history = customers_history(spark, *VERSIONS)
    tx = enriched(spark, history, transactions(spark, *TRANSACTIONS))
    built = customer_summary(tx, current_customers(spark, *VERSIONS), loans(spark, *LOANS),
                             F.lit(AS_OF))
    lines = built._jdf.queryExecution().executedPlan().toString().splitlines()
    windows = [i for i, line in enumerate(lines) if "Window [cume_dist()" in line]
    assert len(windows) == 3, lines
    between = lines[windows[0]:windows[-1]]
    assert not [line for line in between if "Exchange" in line], lines
    assert sum("Exchange hashpartitioning(_active" in line for line in lines) == 1, lines


@pytest.fixture(scope="module")
def awkward_loans(spark):
    """C1 (one card, one transaction), C2 (no activity); L1 moves from C1 to C2, and L9's
    borrower C9 has neither a customer record nor a card."""
    versions = ({"customer_id": "C1", "card_token": "tok-1"}, {"customer_id": "C2"})
    tx = enriched(spark, customers_history(spark, *versions),
                  transactions(spark, {"card_token": "tok-1"}))
    snapshots = loans(
        spark,
        {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2024-01-31",
         "outstanding_balance": "100.00"},
        {"loan_id": "L1", "customer_id": "C2", "as_of_date": "2024-02-29",
         "outstanding_balance": "90.00"},
        {"loan_id": "L9", "customer_id": "C9", "as_of_date": "2024-02-29",
         "outstanding_balance": "50.00"})
    result = (customer_summary(tx, current_customers(spark, *versions), snapshots, F.lit(AS_OF))
              .select("customer_key", "loan_count", "active_loans", "loans_outstanding")
              .cache())
    yield result
    result.unpersist()


def test_loan_moved_to_another_borrower_counts_once_for_the_latest(spark, awkward_loans):
    expected = spark.createDataFrame(
        [("C1", 0, 0, money("0.00")), ("C2", 1, 1, money("90.00"))],
        "customer_key string, loan_count long, active_loans long, "
        "loans_outstanding decimal(18,2)")
    assert_df_equality(awkward_loans.where("customer_key in ('C1', 'C2')"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_borrower_without_customer_record_still_has_a_summary_row(awkward_loans):
    keys = {r.customer_key for r in awkward_loans.select("customer_key").collect()}
    assert "C9" in keys


# ---- column rules ---------------------------------------------------------------------------

def test_age_band_boundaries(spark):
    df = spark.createDataFrame(
        [(2007, "under_18"), (2006, "18-24"), (2000, "18-24"), (1999, "25-34"),
         (1990, "25-34"), (1989, "35-44"), (1980, "35-44"), (1979, "45-54"), (1970, "45-54"),
         (1969, "55-64"), (1960, "55-64"), (1959, "65+"), (1920, "65+"), (None, None)],
        "birth_year int, expected string")
    result = df.withColumn("age_band", age_band(F.col("birth_year"), F.lit(2024)))
    assert_column_equality(result, "age_band", "expected")


def test_quintile_score_spreads_distinct_values_over_1_to_5(spark):
    df = spark.createDataFrame([(v, (v + 1) // 2) for v in range(1, 11)], "v int, expected int")
    result = df.withColumn("score", quintile_score(F.asc("v"))).orderBy("v")
    assert_column_equality(result, "score", "expected")


def test_quintile_score_gives_equal_values_equal_scores(spark):
    values = [1, 2, 2, 2, 3, 4, 4, 5, 6, 7]
    df = spark.createDataFrame([(v,) for v in values], "v int")
    scores: dict[int, set[int]] = {}
    for row in df.withColumn("score", quintile_score(F.asc("v"))).collect():
        scores.setdefault(row.v, set()).add(row.score)
    assert all(len(s) == 1 for s in scores.values()), scores
    assert {s for (s,) in scores.values()} <= {1, 2, 3, 4, 5}
    assert scores[1] == {1} and scores[7] == {5}


def test_quintile_score_gives_5_to_customers_tied_for_the_best_value(spark):
    df = spark.createDataFrame([(v,) for v in [10, 20, 20, 20, 20]], "v int")
    best = df.withColumn("score", quintile_score(F.asc("v"))).where("v = 20")
    assert {r.score for r in best.collect()} == {5}


def test_rfm_segment_mapping(spark):
    df = spark.createDataFrame(
        [(5, 5, 5, "champions"), (4, 4, 4, "champions"), (4, 4, 3, "loyal"),
         (3, 5, 1, "loyal"), (1, 5, 5, "at_risk"), (2, 3, 2, "at_risk"), (5, 1, 1, "new"),
         (4, 2, 5, "new"), (1, 1, 1, "hibernating"), (2, 2, 5, "hibernating"),
         (3, 3, 3, "potential"), (3, 1, 1, "potential"), (None, None, None, "no_activity")],
        "r int, f int, m int, expected string")
    result = df.withColumn("segment", rfm_segment(F.col("r"), F.col("f"), F.col("m")))
    assert_column_equality(result, "segment", "expected")


# ---- customer_monthly_spend -----------------------------------------------------------------

def test_monthly_spend_per_customer_month_and_category(spark):
    history = customers_history(
        spark, {"customer_id": "C1", "card_token": "tok-1"})
    tx = enriched(spark, history, transactions(
        spark,
        {"card_token": "tok-1", "trans_ts": "2024-01-05 09:00:00", "category": "grocery_pos",
         "amount": "1.01"},
        {"card_token": "tok-1", "trans_ts": "2024-01-31 23:59:59", "category": "grocery_pos",
         "amount": "10.10", "is_fraud": True},
        {"card_token": "tok-1", "trans_ts": "2024-02-01 00:00:00", "category": "grocery_pos",
         "amount": "20.20"},
        {"card_token": "tok-1", "trans_ts": "2024-01-20 12:00:00", "category": "food_dining",
         "amount": "5.55"},
        {"card_token": "tok-9", "trans_ts": "2024-01-20 12:00:00", "category": "food_dining",
         "amount": "0.10"}))
    expected = spark.createDataFrame(
        [("C1", d("2024-01-01"), "grocery_pos", 2, money("11.11"), 1, 1),
         ("C1", d("2024-02-01"), "grocery_pos", 1, money("20.20"), 0, 30),
         ("C1", d("2024-01-01"), "food_dining", 1, money("5.55"), 0, 22),
         ("card:tok-9", d("2024-01-01"), "food_dining", 1, money("0.10"), 0, 0)],
        "customer_key string, month date, category string, txn_count long, "
        "spend decimal(18,2), fraud_count long, reward_points long")
    assert_df_equality(customer_monthly_spend(tx), expected, ignore_row_order=True,
                       ignore_nullable=True)
