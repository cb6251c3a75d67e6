"""Gold gates' Silver totals: read by pyarrow from staged files, or by Spark, the same figures."""

from __future__ import annotations

from decimal import Decimal

from lakehouse.gold.expectations import SilverTotals
from lakehouse.runtime.spark import spark_jobs_started


def _frames(spark):
    per_customer = spark.createDataFrame(
        [("C1", 3, Decimal("10.05")), ("card:tok-9", 1, Decimal("-2.50")),
         ("C2", 2, Decimal("1000000.99")), (None, 1, None)],
        "customer_key string, silver_txn_count long, silver_total_spend decimal(28,2)")
    customers = spark.createDataFrame([("C1",), ("C3",), (None,)], "customer_id string")
    # loan snapshots: L1 twice; a borrower (C4) without master data; a loan without borrower
    loans = spark.createDataFrame(
        [("L1", "C1"), ("L1", "C1"), ("L2", "C4"), ("L3", None)],
        "loan_id string, customer_id string")
    return per_customer, customers, loans


def test_totals_of_staged_frames_are_read_without_spark_as_spark_counts_them(spark, delta):
    per_customer, customers, loans = _frames(spark)
    by_spark = SilverTotals.of(per_customer, customers, loans)  # in-memory frames: Spark
    # keys C1, C2, C3, C4, card:tok-9 and null (counted once, as distinct() keeps it)
    assert by_spark == SilverTotals(transactions=7, spend_cents=100000854, customers=6, loans=3)
    staged = [delta.stage(frame, "r1", label) for frame, label in
              ((per_customer, "per-customer"), (customers, "customers"), (loans, "loans"))]
    started = spark_jobs_started(spark)
    assert SilverTotals.of(*staged) == by_spark
    assert spark_jobs_started(spark) == started, "read by pyarrow, without a Spark job"


def test_totals_of_a_frame_that_is_no_plain_scan_are_counted_by_spark(spark, delta):
    per_customer, customers, loans = _frames(spark)
    staged = delta.stage(per_customer, "r1", "per-customer")
    started = spark_jobs_started(spark)
    totals = SilverTotals.of(staged.where("silver_txn_count > 1"), customers, loans)
    assert spark_jobs_started(spark) > started
    assert totals == SilverTotals(transactions=5, spend_cents=100001104, customers=5, loans=3)
