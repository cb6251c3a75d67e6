"""Gold gates' Silver totals: read by pyarrow from staged files, or by Spark, the same figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lakehouse.gold.build import Slice
from lakehouse.gold.expectations import Kept, SilverTotals
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


def _monthly(spark, places: int = 2):
    return spark.createDataFrame(
        [(date(2024, 1, 1), 3, Decimal("10.25")), (date(2024, 2, 1), 1, Decimal("-0.75")),
         (None, 2, Decimal("4.10")), (date(2024, 3, 1), 5, Decimal("99.99")),
         (date(2024, 4, 1), 7, Decimal("1.00"))],
        f"month date, txn_count long, spend decimal(18,{places})")


def test_kept_rows_of_a_staged_table_are_summed_without_spark_as_spark_sums_them(spark, delta):
    monthly, march = _monthly(spark), Slice("month", date(2024, 3, 1))
    by_spark = Kept.of(monthly, march)  # an in-memory frame: Spark
    # January, February and the row without a month stay; March and April are rewritten
    assert by_spark == Kept(march, transactions=6, spend_cents=1360)
    staged = delta.stage(monthly.repartition(2), "r1", "monthly")
    started = spark_jobs_started(spark)
    assert Kept.of(staged, march) == by_spark
    assert spark_jobs_started(spark) == started, "read by pyarrow, without a Spark job"


def test_kept_cents_of_a_finer_decimal_are_counted_by_spark(spark, delta):
    staged = delta.stage(_monthly(spark, places=4), "r1", "monthly-4")
    started = spark_jobs_started(spark)
    assert Kept.of(staged, Slice("month", date(2024, 3, 1))).spend_cents == 1360
    assert spark_jobs_started(spark) > started
