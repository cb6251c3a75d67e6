"""gold.loan_default_features: one row per loan, first-observed features and the default label."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from lakehouse.gold.loans import loan_default_features
from tests.gold.silver_frames import customers_history, d, loans, money

# Snapshots are listed out of date order on purpose.
SNAPSHOTS = (
    # L1: current -> late -> default
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2023-05-31", "status": "late",
     "days_past_due": 30, "outstanding_balance": "9500.00"},
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2023-04-15", "status": "current",
     "days_past_due": 0, "outstanding_balance": "9800.00"},
    {"loan_id": "L1", "customer_id": "C1", "as_of_date": "2023-06-30", "status": "default",
     "days_past_due": 95, "outstanding_balance": "9400.00"},
    # L2: current -> paid_off -> default
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2024-01-31", "status": "paid_off",
     "days_past_due": 0, "outstanding_balance": "0.00", "principal": "5000.00",
     "origination_date": "2023-12-20"},
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2024-02-29", "status": "default",
     "days_past_due": 60, "outstanding_balance": "300.00", "principal": "5000.00",
     "origination_date": "2023-12-20"},
    {"loan_id": "L2", "customer_id": "C1", "as_of_date": "2023-12-31", "status": "current",
     "days_past_due": 0, "outstanding_balance": "5000.00", "principal": "5000.00",
     "origination_date": "2023-12-20"},
    # L3: current -> late -> current: never defaulted
    {"loan_id": "L3", "customer_id": "C2", "as_of_date": "2024-03-31", "status": "current",
     "days_past_due": 0, "outstanding_balance": "7000.00", "origination_date": "2024-01-31"},
    {"loan_id": "L3", "customer_id": "C2", "as_of_date": "2024-02-29", "status": "current",
     "days_past_due": 0, "outstanding_balance": "8000.00", "origination_date": "2024-01-31"},
    {"loan_id": "L3", "customer_id": "C2", "as_of_date": "2024-03-15", "status": "late",
     "days_past_due": 15, "outstanding_balance": "7500.00", "origination_date": "2024-01-31"},
    # L4: charged off; borrower with no income
    {"loan_id": "L4", "customer_id": "C3", "as_of_date": "2023-03-31", "status": "charged_off",
     "days_past_due": 180, "outstanding_balance": "0.00"},
    # L5: paid off; borrower with unknown income and no card activity
    {"loan_id": "L5", "customer_id": "C4", "as_of_date": "2023-02-28", "status": "paid_off",
     "days_past_due": 0, "outstanding_balance": "0.00"},
)
BORROWERS = (
    {"customer_id": "C1", "annual_income": "50000.00", "birth_year": 1998, "credit_score": 610},
    {"customer_id": "C2", "annual_income": "40000.00", "birth_year": 1970, "credit_score": 780},
    {"customer_id": "C3", "annual_income": "0.00", "birth_year": 1950, "credit_score": 540},
    {"customer_id": "C4", "annual_income": None, "birth_year": None, "credit_score": None},
)


def card_activity(spark):
    """Transactions with their owner, all before the loans were first seen: C1 12 (2 fraud,
    345.67 in all), C2 3 (10.00 in all), nobody else."""
    c1 = [("C1", d("2023-01-10"), money("28.00"), i < 2) for i in range(11)]
    c1.append(("C1", d("2023-01-11"), money("37.67"), False))
    c2 = [("C2", d("2024-01-05"), money(v), False) for v in ("3.00", "3.00", "4.00")]
    return spark.createDataFrame(
        c1 + c2, "customer_id string, trans_date date, amount decimal(12,2), is_fraud boolean")


@pytest.fixture(scope="module")
def features(spark):
    versions = [{**b, "updated_at": "2020-01-01 00:00:00"} for b in BORROWERS]
    result = loan_default_features(loans(spark, *SNAPSHOTS),
                                   customers_history(spark, *versions),
                                   card_activity(spark)).cache()
    yield result
    result.unpersist()


def test_one_row_per_loan(features):
    assert sorted(r.loan_id for r in features.select("loan_id").collect()) == \
        ["L1", "L2", "L3", "L4", "L5"]


def test_first_and_latest_columns_come_from_the_earliest_and_latest_snapshot(spark, features):
    expected = spark.createDataFrame(
        [("L1", d("2023-04-15"), "current", 0, d("2023-06-30"), "default", money("9400.00"), 3,
          95),
         ("L2", d("2023-12-31"), "current", 0, d("2024-02-29"), "default", money("300.00"), 3,
          60),
         ("L3", d("2024-02-29"), "current", 0, d("2024-03-31"), "current", money("7000.00"), 3,
          15),
         ("L4", d("2023-03-31"), "charged_off", 180, d("2023-03-31"), "charged_off",
          money("0.00"), 1, 180),
         ("L5", d("2023-02-28"), "paid_off", 0, d("2023-02-28"), "paid_off", money("0.00"), 1,
          0)],
        "loan_id string, first_seen date, first_status string, first_days_past_due int, "
        "last_seen date, latest_status string, latest_outstanding decimal(14,2), "
        "snapshots long, max_days_past_due int")
    assert_df_equality(features.select(*expected.columns), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_defaulted_label_is_any_default_or_charge_off(spark, features):
    expected = spark.createDataFrame(
        [("L1", True), ("L2", True), ("L3", False), ("L4", True), ("L5", False)],
        "loan_id string, defaulted boolean")
    assert_df_equality(features.select("loan_id", "defaulted"), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_borrower_features_and_loan_to_income(spark, features):
    expected = spark.createDataFrame(
        [("L1", "C1", 610, money("50000.00"), 0.2, "25-34"),
         ("L2", "C1", 610, money("50000.00"), 0.1, "25-34"),
         ("L3", "C2", 780, money("40000.00"), 0.25, "45-54"),
         # no income, or an unknown one: no ratio
         ("L4", "C3", 540, money("0.00"), None, "65+"),
         ("L5", "C4", None, None, None, None)],
        "loan_id string, customer_id string, credit_score int, annual_income decimal(14,2), "
        "loan_to_income double, age_band string")
    assert_df_equality(features.select(*expected.columns), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_card_features_are_zero_without_card_activity(spark, features):
    expected = spark.createDataFrame(
        [("L1", 12, money("345.67"), 2), ("L2", 12, money("345.67"), 2),
         ("L3", 3, money("10.00"), 0), ("L4", 0, money("0.00"), 0),
         ("L5", 0, money("0.00"), 0)],
        "loan_id string, card_txn_count long, card_spend decimal(18,2), card_fraud_count long")
    assert_df_equality(features.select(*expected.columns), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_months_on_book_at_first_seen(spark, features):
    expected = spark.createDataFrame(
        # 2023-01-15 -> 2023-04-15: 3 months; 2023-12-20 -> 2023-12-31: 0 (whole months only);
        # month ends 2024-01-31 -> 2024-02-29: 1; 2023-01-15 -> 2023-03-31 / 2023-02-28: 2 / 1
        [("L1", d("2023-01-15"), 3), ("L2", d("2023-12-20"), 0), ("L3", d("2024-01-31"), 1),
         ("L4", d("2023-01-15"), 2), ("L5", d("2023-01-15"), 1)],
        "loan_id string, origination_date date, months_on_book_at_first_seen int")
    assert_df_equality(features.select(*expected.columns), expected, ignore_row_order=True,
                       ignore_nullable=True)
