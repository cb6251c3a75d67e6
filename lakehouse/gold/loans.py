"""gold.loan_default_features: one row per loan, features for default-risk models and the label.

Features describe the loan and its borrower as first observed - origination terms, the first
snapshot, the borrower's master-data version in force that day (credit score, income, age) and
card behaviour up to that day - so nothing learnt after first sight leaks in. ``defaulted`` is
the label: the loan was ever in ``default`` or ``charged_off`` by its last snapshot.
``max_days_past_due``, ``latest_status`` and ``latest_outstanding`` are monitoring columns that
contain the outcome: never model inputs.

Caveat for models: a loan already on the book when the data starts may be first seen late, or
already in default; then ``first_status`` / ``first_days_past_due`` show the outcome, so they
are not safe inputs (the loan notebook leaves them out), and ``card_*`` cover a different span
of history per loan. ``defaulted`` also grows with time on book (no fixed outcome window).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.gold.customers import DEFAULTED_LOAN, MONEY, age_band


def _borrower_as_of(history: DataFrame, firsts: DataFrame) -> DataFrame:
    """The borrower's master-data version in force when the loan was first seen (or, for a
    customer recorded only later, the earliest version)."""
    versions = firsts.select("loan_id", "customer_id", "first_seen").join(
        history.select("customer_id", "valid_from", "credit_score", "annual_income",
                       "birth_year"), "customer_id")
    in_force = F.to_date("valid_from") <= F.col("first_seen")
    pick = Window.partitionBy("loan_id").orderBy(F.desc(in_force.cast("int")),
                                                 F.when(in_force, F.col("valid_from")).desc(),
                                                 F.asc("valid_from"))
    return (versions.withColumn("_n", F.row_number().over(pick)).where("_n = 1")
            .select("loan_id", "credit_score", "annual_income", "birth_year"))


def _cards_as_of(card_activity: DataFrame, firsts: DataFrame) -> DataFrame:
    """The borrower's card activity up to the day the loan was first seen."""
    before = firsts.select("loan_id", "customer_id", "first_seen").join(
        card_activity.select("customer_id", "trans_date", "amount", "is_fraud"),
        "customer_id").where(F.col("trans_date") <= F.col("first_seen"))
    return before.groupBy("loan_id").agg(
        F.count("*").alias("txn_count"),
        F.sum("amount").cast(MONEY).alias("total_spend"),
        F.sum(F.col("is_fraud").cast("int")).alias("fraud_count"))


def _first_snapshots(loans: DataFrame) -> DataFrame:
    first = Window.partitionBy("loan_id").orderBy("as_of_date")
    return (loans.withColumn("_n", F.row_number().over(first)).where("_n = 1")
            .select("loan_id", "customer_id", F.col("as_of_date").alias("first_seen"),
                    F.col("days_past_due").alias("first_days_past_due"),
                    F.col("status").alias("first_status")))


def loan_default_features(loans: DataFrame, customers_history: DataFrame,
                          card_activity: DataFrame) -> DataFrame:
    """One row per loan. ``card_activity`` is transactions with the owning ``customer_id``."""
    last = Window.partitionBy("loan_id").orderBy(F.desc("as_of_date"))
    firsts = _first_snapshots(loans)
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
    joined = (lasts.join(firsts.drop("customer_id"), "loan_id").join(outcome, "loan_id")
              .join(_borrower_as_of(customers_history, firsts), "loan_id", "left")
              .join(_cards_as_of(card_activity, firsts), "loan_id", "left"))
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


def update_loan_default_features(current: DataFrame, loans: DataFrame,
                                 new_card_activity: DataFrame) -> DataFrame:
    """``current`` after new card transactions: each loan's ``card_*`` columns (sums over the
    borrower's transactions up to first sight) with the new transactions added; nothing else
    depends on transactions. ``loans`` must be the snapshots ``current`` was built from."""
    added = _cards_as_of(new_card_activity, _first_snapshots(loans))
    joined = current.join(added, "loan_id", "left")
    plus = {"card_txn_count": ("txn_count", T.LongType()),
            "card_spend": ("total_spend", MONEY),
            "card_fraud_count": ("fraud_count", T.LongType())}
    return joined.select(*(
        (F.col(c) + F.coalesce(added[plus[c][0]], F.lit(0))).cast(plus[c][1]).alias(c)
        if c in plus else current[c] for c in current.columns))
