"""gold.customer_summary and gold.customer_monthly_spend: one customer, every card they hold.

A customer is a ``customer_id`` from the master data, or - for a cardholder the bank has no
record of - the card itself (``customer_key = 'card:' || card_token``), so every transaction
belongs to exactly one customer.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.gold.additive import add_up

ACTIVE_LOAN = ("current", "late")
DEFAULTED_LOAN = ("default", "charged_off")
MONEY = T.DecimalType(18, 2)


def card_owners(customers_history: DataFrame) -> DataFrame:
    """card_token -> customer_id, from every version of the master data (latest owner wins)."""
    latest = Window.partitionBy("card_token").orderBy(F.desc("valid_from"))
    return (customers_history.where(F.col("card_token").isNotNull())
            .withColumn("_n", F.row_number().over(latest)).where("_n = 1")
            .select("card_token", "customer_id"))


def with_customer_key(owners: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Adds ``customer_id`` (null when unknown) and ``customer_key`` to transactions."""

    def transform(transactions: DataFrame) -> DataFrame:
        joined = transactions.join(F.broadcast(owners), "card_token", "left")
        key = F.coalesce(F.col("customer_id"), F.concat(F.lit("card:"), F.col("card_token")))
        return joined.withColumn("customer_key", key)

    return transform


def age_band(birth_year: Column, as_of_year: Column) -> Column:
    """Age on the reference date, in the bands used for reporting."""
    age = as_of_year - birth_year
    return (F.when(birth_year.isNull(), F.lit(None))
            .when(age < 18, "under_18").when(age < 25, "18-24").when(age < 35, "25-34")
            .when(age < 45, "35-44").when(age < 55, "45-54").when(age < 65, "55-64")
            .otherwise("65+"))


def quintile_score(order: Column, among: Column | None = None) -> Column:
    """1-5 by rank (5 = best), within each value of ``among`` (all rows when None); equal
    values score equally, and a value shared by the best scores 5."""
    window = Window.orderBy(order) if among is None else Window.partitionBy(among).orderBy(order)
    share = F.cume_dist().over(window)
    return F.greatest(F.ceil(share * 5), F.lit(1)).cast("int")


def rfm_segment(recency: Column, frequency: Column, monetary: Column) -> Column:
    """Recency/frequency/monetary quintile scores (5 = best) mapped to a named segment."""
    return (F.when(frequency.isNull(), "no_activity")
            .when((recency >= 4) & (frequency >= 4) & (monetary >= 4), "champions")
            .when((recency >= 3) & (frequency >= 4), "loyal")
            .when((recency <= 2) & (frequency >= 3), "at_risk")
            .when((recency >= 4) & (frequency <= 2), "new")
            .when((recency <= 2) & (frequency <= 2), "hibernating")
            .otherwise("potential"))


def _top_category(tx: DataFrame) -> DataFrame:
    """The category of the customer's highest spend (on equal spend, the first by name)."""
    spend = tx.groupBy("customer_key", "category").agg(F.sum("amount").alias("_spend"))
    return spend.groupBy("customer_key").agg(
        F.min_by("category", F.struct(-F.col("_spend"), F.col("category")))
        .alias("top_category"))


def _loan_profile(loans: DataFrame) -> DataFrame:
    """Per borrower; a loan belongs to the borrower of its latest snapshot, once."""
    latest = Window.partitionBy("loan_id").orderBy(F.desc("as_of_date"))
    per_loan = loans.groupBy("loan_id").agg(
        F.max("days_past_due").alias("_worst_dpd"),
        F.max(F.col("status").isin(*DEFAULTED_LOAN).cast("int")).alias("_defaulted"))
    current = (loans.withColumn("_n", F.row_number().over(latest)).where("_n = 1")
               .select("loan_id", "customer_id", "status", "outstanding_balance"))
    return (per_loan.join(current, "loan_id").groupBy("customer_id").agg(
        F.count("*").alias("loan_count"),
        F.sum(F.col("status").isin(*ACTIVE_LOAN).cast("int")).alias("active_loans"),
        F.sum(F.when(F.col("status").isin(*ACTIVE_LOAN), F.col("outstanding_balance"))
              .otherwise(0)).cast(MONEY).alias("loans_outstanding"),
        F.max("_worst_dpd").alias("worst_days_past_due"),
        (F.max("_defaulted") == 1).alias("ever_defaulted")))


SUMMARY_COLUMNS = (
    "customer_key", "customer_id", "card_count", "txn_count", "total_spend", "avg_spend",
    "first_txn_ts", "last_txn_ts", "recency_days", "active_days", "distinct_merchants",
    "top_category", "fraud_count", "fraud_amount", "reward_points", "loan_count",
    "active_loans", "loans_outstanding", "worst_days_past_due", "ever_defaulted", "age_band",
    "state", "credit_score", "rfm_segment")
# the columns that depend on every customer's activity or on the reference day's date, not
# only on the customer's own rows: recomputed for everyone whenever Gold changes
RANKED_COLUMNS = ("recency_days", "rfm_segment")


def customer_summary(transactions: DataFrame, customers: DataFrame, loans: DataFrame,
                     as_of: Column) -> DataFrame:
    """One row per customer: spend, fraud, rewards, loans, demographics and an RFM segment.

    ``transactions`` carry ``customer_key`` and ``reward_points``; ``as_of`` (a date) is the
    reference day for recency and age - the latest transaction day, so Gold is reproducible.
    """
    return with_rfm_segment(customer_rows(transactions, customers, loans, as_of), as_of)


def customer_rows(transactions: DataFrame, customers: DataFrame, loans: DataFrame,
                  as_of: Column) -> DataFrame:
    """``customer_summary`` without its ``RANKED_COLUMNS``: each row depends only on the
    customer's own transactions, master data and loans (and on ``as_of``'s year)."""
    tx = transactions
    # Distinct counts as set sizes: Spark plans several COUNT(DISTINCT) over different columns
    # by copying every row once per column (an Expand), which made this the slowest aggregate
    # of Gold; a customer's sets are small. The latest transaction's profile (birth year and
    # state, for cardholders the bank has no record of) is a max_by in the same pass.
    latest = F.struct("trans_ts", "trans_id")
    activity = tx.groupBy("customer_key").agg(
        F.first("customer_id", ignorenulls=True).alias("_tx_customer_id"),
        F.size(F.collect_set("card_token")).alias("card_count"),
        F.count("*").alias("txn_count"),
        F.sum("amount").cast(MONEY).alias("total_spend"),
        F.avg("amount").cast(MONEY).alias("avg_spend"),
        F.min("trans_ts").alias("first_txn_ts"),
        F.max("trans_ts").alias("last_txn_ts"),
        F.size(F.collect_set("trans_date")).alias("active_days"),
        F.size(F.collect_set("merchant")).alias("distinct_merchants"),
        F.sum(F.col("is_fraud").cast("int")).alias("fraud_count"),
        F.sum(F.when(F.col("is_fraud"), F.col("amount")).otherwise(0)).cast(MONEY)
        .alias("fraud_amount"),
        F.sum("reward_points").alias("reward_points"),
        F.max_by("birth_year", latest).alias("_txn_birth_year"),
        F.max_by("state", latest).alias("_txn_state"))
    # everyone the bank knows: master data, plus borrowers it has no record of
    borrowers = (loans.select("customer_id").distinct()
                 .join(customers.select("customer_id"), "customer_id", "left_anti"))
    known = (customers.select("customer_id", "birth_year", "state", "credit_score")
             .unionByName(borrowers, allowMissingColumns=True)
             .withColumn("customer_key", F.col("customer_id")))
    joined = (known.join(activity, "customer_key", "full")
              .join(_top_category(tx), "customer_key", "left")
              .withColumn("customer_id", F.coalesce("customer_id", "_tx_customer_id"))
              .join(_loan_profile(loans), "customer_id", "left"))
    birth_year = F.coalesce("birth_year", "_txn_birth_year")
    zero = F.lit(0)
    return joined.select(
        "customer_key", "customer_id",
        F.coalesce("card_count", zero).cast("long").alias("card_count"),
        F.coalesce("txn_count", zero).cast("long").alias("txn_count"),
        F.coalesce("total_spend", zero.cast(MONEY)).alias("total_spend"),
        "avg_spend", "first_txn_ts", "last_txn_ts",
        F.coalesce("active_days", zero).cast("long").alias("active_days"),
        F.coalesce("distinct_merchants", zero).cast("long").alias("distinct_merchants"),
        "top_category",
        F.coalesce("fraud_count", zero).cast("long").alias("fraud_count"),
        F.coalesce("fraud_amount", zero.cast(MONEY)).alias("fraud_amount"),
        F.coalesce("reward_points", zero).cast("long").alias("reward_points"),
        F.coalesce("loan_count", zero).cast("long").alias("loan_count"),
        F.coalesce("active_loans", zero).cast("long").alias("active_loans"),
        F.coalesce("loans_outstanding", zero.cast(MONEY)).alias("loans_outstanding"),
        "worst_days_past_due",
        F.coalesce("ever_defaulted", F.lit(False)).alias("ever_defaulted"),
        age_band(birth_year, F.year(as_of)).alias("age_band"),
        F.coalesce("state", "_txn_state").alias("state"),
        "credit_score",
    )


def with_rfm_segment(rows: DataFrame, as_of: Column) -> DataFrame:
    """``customer_rows`` (of every customer) with ``recency_days`` on ``as_of`` and the RFM
    segment, whose quintiles rank each customer with activity against all the others."""
    # The three rankings share one window partitioning, by a column (``_active``): Spark then
    # shuffles the rows once and sorts them three times. Partitioned by the expression itself,
    # each ranking shuffled every row again (a stage more each, in every build).
    active = F.col("_active")
    scored = (rows.withColumn("recency_days", F.datediff(as_of, F.to_date("last_txn_ts")))
              .withColumn("_active", F.col("txn_count") > 0)
              .withColumn("_r", quintile_score(F.desc("recency_days"), active))
              .withColumn("_f", F.when(active, quintile_score(F.asc("txn_count"), active)))
              .withColumn("_m", quintile_score(F.asc("total_spend"), active)))
    return scored.withColumn("rfm_segment", rfm_segment(F.col("_r"), F.col("_f"), F.col("_m"))
                             ).select(*SUMMARY_COLUMNS)


MONTHLY_KEYS = ("customer_key", "month", "category")
MONTHLY_SUMS = {"txn_count": T.LongType(), "spend": MONEY, "fraud_count": T.LongType(),
                "reward_points": T.LongType()}


def customer_monthly_spend(transactions: DataFrame) -> DataFrame:
    """One row per customer, calendar month (UTC) and category."""
    return (transactions
            .withColumn("month", F.trunc("trans_date", "month"))
            .groupBy(*MONTHLY_KEYS)
            .agg(F.count("*").alias("txn_count"),
                 F.sum("amount").cast(MONEY).alias("spend"),
                 F.sum(F.col("is_fraud").cast("int")).cast("long").alias("fraud_count"),
                 F.sum("reward_points").cast("long").alias("reward_points"))
            .select(*MONTHLY_KEYS, *MONTHLY_SUMS))


def update_customer_monthly_spend(current: DataFrame, new_transactions: DataFrame) -> DataFrame:
    """``current`` with new transactions added (every column is a sum)."""
    return add_up(current, customer_monthly_spend(new_transactions), MONTHLY_KEYS,
                  MONTHLY_SUMS)


def customer_changes(current: DataFrame, new_transactions: DataFrame,
                     current_monthly: DataFrame, customers: DataFrame) -> DataFrame:
    """What ``update_customer_summary`` needs that the earlier rows do not say, one row per
    customer with new rows (a day's: small): the new rows' aggregates (``_txn_count``, ...),
    the customer's row of ``current`` (each column as ``_old_<column>``, null for a customer new
    to Gold), the top category after the new rows (``_top_category_after``) and the master
    data's birth year and state. It is computed while the pass over the earlier rows
    (``earlier_by_customer``) runs: after that pass, the update only joins the two."""
    new = new_transactions
    touched = new.select("customer_key").distinct()
    batch = new.groupBy("customer_key").agg(
        F.first("customer_id", ignorenulls=True).alias("_new_customer_id"),
        F.count("*").alias("_txn_count"),
        F.sum("amount").alias("_spend"),
        F.min("trans_ts").alias("_first_ts"),
        F.max("trans_ts").alias("_last_ts"),
        F.sum(F.col("is_fraud").cast("int")).alias("_fraud_count"),
        F.sum(F.when(F.col("is_fraud"), F.col("amount")).otherwise(0)).alias("_fraud_amount"),
        F.sum("reward_points").alias("_reward_points"))
    before = current.join(F.broadcast(touched), "customer_key", "left_semi")
    master = (customers.join(F.broadcast(touched.withColumnRenamed("customer_key",
                                                                  "customer_id")),
                             "customer_id", "left_semi")
              .select(F.col("customer_id").alias("customer_key"),
                      F.col("birth_year").alias("_master_birth_year"),
                      F.col("state").alias("_master_state")))
    # Every frame joined to the batch has a row per customer with new rows at most (a day's
    # batch is small): broadcast, so that the batch is not shuffled once per lookup.
    lookups = [before.select("customer_key", *(F.col(c).alias(f"_old_{c}")
                                               for c in current.columns if c != "customer_key")),
               _top_category_after(current_monthly, new, before), master]
    joined = batch
    for lookup in lookups:
        joined = joined.join(F.broadcast(lookup), "customer_key", "left")
    return joined


def update_customer_summary(current: DataFrame, changes: DataFrame, earlier: DataFrame,
                            as_of: Column) -> DataFrame:
    """``current`` after new transactions, equal to ``customer_summary`` of the whole snapshot.

    ``changes``: ``customer_changes`` of ``current``, the new rows (with ``customer_key`` and
    ``reward_points``), ``customer_monthly_spend`` as built with ``current`` and the master
    data; ``earlier``: ``earlier_by_customer`` of the new rows, the rows ``current`` was built
    from (the snapshot without the new rows) and ``current``, after ``settle_ties``. Master
    data and loans must be the ones ``current`` was built from, and ``as_of`` in the same year
    (age bands).

    The customers with new rows get their new rows' aggregates added to their row: counts and
    sums add up, first and last timestamps widen, the average is recomputed from the new sum
    and count as Spark's ``avg`` computes it. What cannot be added is looked up: the distinct
    counts (cards, active days, merchants) grow by the new rows' values that no earlier row of
    the customer has, and the latest transaction's profile (birth year and state, used where
    the master data has none) comes from the new rows and the earlier rows at the earlier
    latest timestamp - both from ``earlier``. The top category comes from the monthly spend
    plus the new rows. Every other row is kept, and everyone's recency and segment are ranked
    again."""
    old = {c: F.col(f"_old_{c}") for c in current.columns if c != "customer_key"}
    zero = F.lit(0)
    txn_count = F.coalesce(old["txn_count"], zero) + F.col("_txn_count")
    total_spend = F.coalesce(old["total_spend"], zero) + F.col("_spend")
    joined = changes.join(F.broadcast(earlier.where(F.col(LOOKUP_COLUMNS[0]).isNotNull())
                                      .select("customer_key", *LOOKUP_COLUMNS)),
                          "customer_key", "left")
    updated = joined.select(
        "customer_key",
        F.coalesce(old["customer_id"], F.col("_new_customer_id")).alias("customer_id"),
        (F.coalesce(old["card_count"], zero) + F.coalesce("_new_cards", zero)).cast("long")
        .alias("card_count"),
        txn_count.cast("long").alias("txn_count"),
        total_spend.cast(MONEY).alias("total_spend"),
        _spark_avg(total_spend, txn_count).alias("avg_spend"),
        F.least(old["first_txn_ts"], F.col("_first_ts")).alias("first_txn_ts"),
        F.greatest(old["last_txn_ts"], F.col("_last_ts")).alias("last_txn_ts"),
        (F.coalesce(old["active_days"], zero) + F.coalesce("_new_days", zero)).cast("long")
        .alias("active_days"),
        (F.coalesce(old["distinct_merchants"], zero) + F.coalesce("_new_merchants", zero))
        .cast("long").alias("distinct_merchants"),
        "top_category",
        (F.coalesce(old["fraud_count"], zero) + F.col("_fraud_count")).cast("long")
        .alias("fraud_count"),
        (F.coalesce(old["fraud_amount"], zero) + F.col("_fraud_amount")).cast(MONEY)
        .alias("fraud_amount"),
        (F.coalesce(old["reward_points"], zero) + F.coalesce("_reward_points", zero))
        .cast("long").alias("reward_points"),
        # loans and credit scores did not change; a customer new to Gold has no loan (every
        # borrower is in Gold already, with or without transactions) and no master record
        F.coalesce(old["loan_count"], zero).cast("long").alias("loan_count"),
        F.coalesce(old["active_loans"], zero).cast("long").alias("active_loans"),
        F.coalesce(old["loans_outstanding"], zero.cast(MONEY)).alias("loans_outstanding"),
        old["worst_days_past_due"].alias("worst_days_past_due"),
        F.coalesce(old["ever_defaulted"], F.lit(False)).alias("ever_defaulted"),
        age_band(F.coalesce("_master_birth_year", "_txn_birth_year"), F.year(as_of))
        .alias("age_band"),
        F.coalesce("_master_state", "_txn_state").alias("state"),
        old["credit_score"].alias("credit_score"))
    kept = current.join(F.broadcast(changes.select("customer_key")), "customer_key", "left_anti")
    return with_rfm_segment(kept.drop(*RANKED_COLUMNS).unionByName(updated), as_of)


def _spark_avg(total: Column, count: Column) -> Column:
    """``avg(amount)`` from its sum and count, rounded as Spark rounds it (the exact sum, as
    ``decimal(22,2)``, divided by the count; the result as ``decimal(16,6)``, then money)."""
    return ((total.cast("decimal(22,2)") / count.cast("decimal(20,0)"))
            .cast("decimal(16,6)").cast(MONEY))


# the distinct counts of customer_rows: the column whose distinct values each counts, the
# set of the new rows' values (per customer) and how many of them are new
_DISTINCT = {"card_token": ("_cards", "_new_cards"), "trans_date": ("_days", "_new_days"),
             "merchant": ("_merchants", "_new_merchants")}
# what earlier_by_customer says about the customers with new rows (update_customer_summary)
LOOKUP_COLUMNS = ("_new_cards", "_new_days", "_new_merchants", "_txn_birth_year", "_txn_state")
TIE_TS = "_tie_ts"  # earlier_by_customer: the time whose rows decide a customer's profile


def _latest_row() -> Column:
    """What orders a customer's rows for their latest profile (``customer_rows``' max_by: the
    time, then the transaction id between rows at the same time), and the profile itself."""
    return F.struct("trans_ts", "trans_id", "birth_year", "state")


def earlier_by_customer(new: DataFrame, earlier: DataFrame, current: DataFrame) -> DataFrame:
    """One pass over the earlier rows (``earlier``, with ``customer_key``), per customer:

    - ``silver_txn_count`` and ``silver_total_spend`` of their earlier rows, for every customer
      with any (straight from Silver, for the gates to reconcile with: ``silver_per_customer``
      adds the new rows');
    - for each customer with new rows (``new``), the ``LOOKUP_COLUMNS``: how many of the new
      rows' cards, days and merchants no earlier row of theirs has (``_new_cards``, ...), and
      the birth year and state of their latest transaction (``customer_rows``' profile) among
      the new rows and the earlier rows at their earlier latest timestamp (the ``last_txn_ts``
      of ``current``, the summary before the new rows).

    Each earlier row is compared with its customer's sets of new values (a broadcast row per
    customer with new rows): which value of each set it holds, by position, and whether it is
    at the latest timestamp. A plain hash aggregate on those leaves about one row per customer
    and card before the sets are counted. (Done as three passes - pairs of customer and value
    for the distinct counts, the profile, the gates' totals - this cost three scans of Silver,
    each earlier row becoming three pairs of strings in the first.)

    The pass leaves out ``trans_id``, which only breaks ties between rows at the same time and
    was half the bytes it read: the profile comes from the latest new row when it is later
    than the earlier latest, from the earlier latest rows when they are later and agree.
    Customers left undecided (a new row at the very time of an earlier latest one, or earlier
    latest rows that disagree: none, most days) have ``_tie_ts``, that time, for
    ``settle_ties``."""
    touched = (new.groupBy("customer_key").agg(
        *(F.collect_set(column).alias(values) for column, (values, _) in _DISTINCT.items()),
        F.max(_latest_row()).alias("_new_latest"))
        .join(current.select("customer_key", F.col("last_txn_ts").alias("_last_ts")),
              "customer_key", "left"))
    seen = {f"_seen{values}": F.expr(f"nullif(array_position({values}, {column}), 0)")
            for column, (values, _) in _DISTINCT.items()}
    at_latest = F.when(F.col("trans_ts") == F.col("_last_ts"), F.struct("birth_year", "state"))
    found = (earlier.join(F.broadcast(touched.drop("_new_latest")), "customer_key", "left")
             .select("customer_key", "amount", *(c.alias(n) for n, c in seen.items()),
                     at_latest.alias("_at_latest"))
             .groupBy("customer_key", *seen, "_at_latest")
             .agg(F.count("*").alias("_rows"), F.sum("amount").alias("_spend"))
             .groupBy("customer_key")
             .agg(F.sum("_rows").alias("silver_txn_count"),
                  F.sum("_spend").alias("silver_total_spend"),
                  *(F.size(F.collect_set(n)).alias(n) for n in seen),
                  F.collect_set("_at_latest").alias("_profiles")))
    new_ts, last_ts = F.col("_new_latest.trans_ts"), F.col("_last_ts")
    new_wins = last_ts.isNull() | (new_ts > last_ts)
    earlier_wins = (new_ts < last_ts) & (F.size("_profiles") == 1)

    def profile(field: str) -> Column:
        return (F.when(new_wins, F.col("_new_latest")[field])
                .when(earlier_wins, F.col("_profiles")[0][field]))

    touched_row = F.col("_new_latest").isNotNull()
    return touched.join(found, "customer_key", "full").select(
        "customer_key", "silver_txn_count", "silver_total_spend",
        *(F.when(touched_row, F.size(values) - F.coalesce(f"_seen{values}", F.lit(0)))
          .alias(name) for values, name in _DISTINCT.values()),
        profile("birth_year").alias("_txn_birth_year"), profile("state").alias("_txn_state"),
        F.when(touched_row & ~new_wins & ~earlier_wins, last_ts).alias(TIE_TS))


def settle_ties(lookup: DataFrame, earlier: DataFrame, new: DataFrame) -> DataFrame:
    """``earlier_by_customer``'s ``lookup`` with the profile of its undecided customers (those
    with a ``_tie_ts``) taken from their rows at that time, earlier and new, by transaction
    id; without ``_tie_ts``. Only those rows are read: with no undecided customer, the
    broadcast side is empty and Spark skips reading ``earlier`` at all."""
    latest = _latest_row()
    undecided = lookup.where(F.col(TIE_TS).isNotNull()).select(
        "customer_key", F.col(TIE_TS).alias("trans_ts"))
    candidates = (earlier.join(F.broadcast(undecided), ["customer_key", "trans_ts"], "left_semi")
                  .select("customer_key", latest.alias("_latest"))
                  .unionByName(new.join(F.broadcast(undecided.select("customer_key")),
                                        "customer_key", "left_semi")
                               .select("customer_key", latest.alias("_latest"))))
    tied = candidates.groupBy("customer_key").agg(F.max("_latest").alias("_tied"))
    undecided_row = F.col(TIE_TS).isNotNull()
    return lookup.join(tied, "customer_key", "left").select(
        *(c for c in lookup.columns if c not in (TIE_TS, "_txn_birth_year", "_txn_state")),
        *(F.when(undecided_row, F.col("_tied")[field]).otherwise(F.col(f"_txn_{field}"))
          .alias(f"_txn_{field}") for field in ("birth_year", "state")))


def _top_category_after(current_monthly: DataFrame, new: DataFrame,
                        before: DataFrame) -> DataFrame:
    """``_top_category`` of the customers with new rows, from their spend per category in the
    monthly spend (exact sums of amounts) plus the new rows.

    Only the categories the new rows add to, and the customer's earlier top category (from
    ``before``, their rows of the current summary), are read: a category without new spend
    spent at most what the earlier top did, and on equal spend comes after it by name, so it
    cannot overtake while new spend only adds. A customer with a negative new amount (a
    refund, if the Silver rules allow one) has every category read."""
    candidates = (new.select("customer_key", "category", (F.col("amount") < 0).alias("_all"))
                  .unionByName(before.where(F.col("top_category").isNotNull())
                               .select("customer_key", F.col("top_category").alias("category"),
                                       F.lit(False).alias("_all")))
                  .groupBy("customer_key", "category").agg(F.max("_all").alias("_all"))
                  .select(F.col("customer_key").alias("_want_key"),
                          F.col("category").alias("_want_category"),
                          F.col("_all").alias("_want_all")))
    read = (F.col("customer_key") == F.col("_want_key")) & (
        F.col("_want_all") | F.col("category").eqNullSafe(F.col("_want_category")))
    spent = (current_monthly.join(F.broadcast(candidates), read, "left_semi")
             .select("customer_key", "category", F.col("spend").alias("amount"))
             .unionByName(new.select("customer_key", "category", "amount")))
    return _top_category(spent)
