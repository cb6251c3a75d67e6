"""gold.loan_default_features: one row per loan, features for default-risk models and the label.

Features describe the loan and its borrower as first observed (origination terms, first
snapshot, credit score, income, card behaviour); ``defaulted`` is the label: the loan was ever in
``default`` or ``charged_off``. ``max_days_past_due`` and ``latest_status`` are monitoring
columns that contain the outcome - never use them as model inputs.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.gold.customers import DEFAULTED_LOAN, MONEY, age_band


def loan_default_features(loans: DataFrame, customers: DataFrame,
                          customer_summary: DataFrame) -> DataFrame:
    first = Window.partitionBy("loan_id").orderBy("as_of_date")
    last = Window.partitionBy("loan_id").orderBy(F.desc("as_of_date"))
    firsts = (loans.withColumn("_n", F.row_number().over(first)).where("_n = 1")
              .select("loan_id", F.col("as_of_date").alias("first_seen"),
                      F.col("days_past_due").alias("first_days_past_due"),
                      F.col("status").alias("first_status")))
    lasts = (loans.withColumn("_n", F.row_number().over(last)).where("_n = 1")
             .select("loan_id", "customer_id", "product", "principal", "interest_rate",
                     "term_months", "origination_date",
                     F.col("as_of_date").alias("last_seen"),
                     F.col("status").alias("latest_status"),
                     F.col("outstanding_balance").alias("latest_outstanding")))
    outcome = loans.groupBy("loan_id").agg(
        F.count("*").alias("snapshots"),
        F.max("days_past_due").alias("max_days_past_due"),
        F.max(F.col("status").isin(*DEFAULTED_LOAN).cast("int")).alias("_defaulted"))
    borrower = customers.select("customer_id", "credit_score", "annual_income", "birth_year")
    cards = customer_summary.select("customer_id", "txn_count", "total_spend", "fraud_count")
    joined = (lasts.join(firsts, "loan_id").join(outcome, "loan_id")
              .join(borrower, "customer_id", "left").join(cards, "customer_id", "left"))
    return joined.select(
        "loan_id", "customer_id", "product", "principal", "interest_rate", "term_months",
        "origination_date", "first_seen", "last_seen", "snapshots",
        F.months_between("first_seen", "origination_date").cast("int")
        .alias("months_on_book_at_first_seen"),
        "first_status", "first_days_past_due", "credit_score", "annual_income",
        F.when(F.col("annual_income") > 0, F.col("principal") / F.col("annual_income"))
        .cast("double").alias("loan_to_income"),
        age_band(F.col("birth_year"), F.year("first_seen")).alias("age_band"),
        F.coalesce("txn_count", F.lit(0)).cast("long").alias("card_txn_count"),
        F.coalesce("total_spend", F.lit(0).cast(MONEY)).alias("card_spend"),
        F.coalesce("fraud_count", F.lit(0)).cast("long").alias("card_fraud_count"),
        "latest_status", "latest_outstanding", "max_days_past_due",
        (F.col("_defaulted") == 1).alias("defaulted"),
    )
