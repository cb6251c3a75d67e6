"""gold.fraud_daily: volume and fraud by UTC day, category and cardholder state."""

from __future__ import annotations

from chispa import assert_df_equality

from lakehouse.gold.fraud import fraud_daily
from tests.gold.silver_frames import d, money, transactions

COLUMNS = ("trans_date date, category string, state string, txn_count long, fraud_count long, "
           "fraud_rate double, amount decimal(18,2), fraud_amount decimal(18,2)")


def test_fraud_daily_counts_rates_and_amounts_are_exact(spark):
    tx = transactions(
        spark,
        {"trans_ts": "2024-03-01 00:00:01", "category": "grocery_pos", "state": "TX",
         "amount": "10.01", "is_fraud": True},
        {"trans_ts": "2024-03-01 12:00:00", "category": "grocery_pos", "state": "TX",
         "amount": "20.02"},
        {"trans_ts": "2024-03-01 23:59:59", "category": "grocery_pos", "state": "TX",
         "amount": "30.03"},
        {"trans_ts": "2024-03-01 08:00:00", "category": "grocery_pos", "state": "CA",
         "amount": "7.77"},
        {"trans_ts": "2024-03-01 09:00:00", "category": "travel", "state": "TX",
         "amount": "100.00", "is_fraud": True},
        {"trans_ts": "2024-03-01 10:00:00", "category": "travel", "state": "TX",
         "amount": "0.01", "is_fraud": True},
        {"trans_ts": "2024-02-29 23:59:59", "category": "grocery_pos", "state": "TX",
         "amount": "5.00", "is_fraud": True})
    expected = spark.createDataFrame(
        [(d("2024-03-01"), "grocery_pos", "TX", 3, 1, 1 / 3, money("60.06"), money("10.01")),
         (d("2024-03-01"), "grocery_pos", "CA", 1, 0, 0.0, money("7.77"), money("0.00")),
         (d("2024-03-01"), "travel", "TX", 2, 2, 1.0, money("100.01"), money("100.01")),
         (d("2024-02-29"), "grocery_pos", "TX", 1, 1, 1.0, money("5.00"), money("5.00"))],
        COLUMNS)
    assert_df_equality(fraud_daily(tx), expected, ignore_row_order=True, ignore_nullable=True)


def test_transaction_just_after_midnight_utc_belongs_to_that_day(spark):
    tx = transactions(
        spark,
        {"trans_ts": "2024-03-10 23:59:59", "category": "travel", "amount": "1.00"},
        {"trans_ts": "2024-03-11 00:00:01", "category": "travel", "amount": "2.00",
         "is_fraud": True})
    result = fraud_daily(tx).select("trans_date", "txn_count", "fraud_count", "amount")
    expected = spark.createDataFrame(
        [(d("2024-03-10"), 1, 0, money("1.00")), (d("2024-03-11"), 1, 1, money("2.00"))],
        "trans_date date, txn_count long, fraud_count long, amount decimal(18,2)")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_fraud_rate_is_a_share_between_0_and_1(spark):
    tx = transactions(spark, *[{"category": c, "is_fraud": f} for c, f in [
        ("home", False), ("home", False), ("travel", True), ("travel", False),
        ("misc_net", True)]])
    rates = {r.category: r.fraud_rate for r in fraud_daily(tx).collect()}
    assert rates == {"home": 0.0, "travel": 0.5, "misc_net": 1.0}
    assert all(0.0 <= rate <= 1.0 for rate in rates.values())
