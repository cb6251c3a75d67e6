"""Gold gates: shape, ranges, the card-number scan, and totals that reconcile exactly with Silver.

Each gate validates the Gold frame joined with figures computed independently from Silver, so a
wrong join, a lost or doubled transaction, or a rounding drift fails the gate before the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from lakehouse.gold.additive import add_up
from lakehouse.gold.build import (
    CUSTOMER_MONTHLY_SPEND,
    CUSTOMER_SUMMARY,
    FRAUD_DAILY,
    LOAN_DEFAULT_FEATURES,
    Slice,
)
from lakehouse.gold.customers import MONTHLY_KEYS, MONTHLY_SUMS
from lakehouse.gold.fraud import FRAUD_KEYS, FRAUD_SUMS
from lakehouse.io.delta import scanned_each
from lakehouse.io.lake import TableId
from lakehouse.pii.columns import CARD_NUMBER_FOUND, with_card_number_flag
from lakehouse.quality.keys import keys_unique, with_gate_key


def silver_per_customer(transactions: DataFrame, earlier: DataFrame | None = None) -> DataFrame:
    """Transactions and spend per customer, straight from Silver (``transactions`` with their
    ``customer_key``): what the Gold gates reconcile with (small: one row per customer).
    ``earlier``: the same figures of the rows before ``transactions`` (``earlier_by_customer``
    counts them in the pass an incremental build makes anyway), added in."""
    figures = transactions.groupBy("customer_key").agg(
        F.count("*").alias("silver_txn_count"),
        F.sum("amount").alias("silver_total_spend"))
    if earlier is None:
        return figures
    sums = {c: figures.schema[c].dataType for c in ("silver_txn_count", "silver_total_spend")}
    return add_up(earlier.where(F.col("silver_txn_count").isNotNull()), figures,
                  ["customer_key"], sums)


@dataclass(frozen=True)
class SilverTotals:
    """Figures computed straight from Silver, for reconciliation."""

    transactions: int
    spend_cents: int
    customers: int
    loans: int

    @classmethod
    def of(cls, per_customer: DataFrame, customers: DataFrame, loans: DataFrame) -> SilverTotals:
        """``per_customer``: ``silver_per_customer`` of the snapshot's transactions.

        Read with pyarrow when the three frames are plain scans of local files of at most
        ``SCANNED_ROWS`` rows each (``scanned_each``: the staged ``per_customer`` and Silver's
        snapshots, a few columns of a row per customer or loan):
        the Spark query below took nine jobs, about 0.8 s of a 1 M-row day's Gold update.
        Otherwise one query of three single-row aggregates: Spark runs their stages side by
        side, where three queries (a count each) ran one after another."""
        scanned = _totals_scanned(per_customer, customers, loans)
        if scanned is not None:
            return scanned
        tx = per_customer.agg(F.sum("silver_txn_count").alias("transactions"),
                              F.sum("silver_total_spend").alias("spend"))
        keys = (customers.select(F.col("customer_id").alias("k"))
                .union(loans.select(F.col("customer_id").alias("k")))
                .union(per_customer.select(F.col("customer_key").alias("k")))
                .distinct().agg(F.count("*").alias("customers")))
        loan_ids = loans.select("loan_id").distinct().agg(F.count("*").alias("loans"))
        row = tx.crossJoin(keys).crossJoin(loan_ids).collect()[0]
        return cls(int(row["transactions"] or 0), int((row["spend"] or 0) * 100),
                   row["customers"], row["loans"])


def _totals_scanned(per_customer: DataFrame, customers: DataFrame,
                    loans: DataFrame) -> SilverTotals | None:
    """``SilverTotals.of`` read by pyarrow a batch of rows at a time (``scanned_each``); None
    when a frame is not a plain scan. The same figures as Spark's: sums of the exact values,
    and distinct counts in which a null counts once (as ``distinct().count()`` does). The
    driver holds a batch and the distinct keys."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sums: list[Any] = [0, Decimal(0)]
    keys: list[Any] = []
    loan_ids: list[Any] = []

    def distinct(column: Any) -> Any:
        plain = column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
        return pc.unique(plain.cast(pa.string()))

    def figures(batch: Any) -> None:
        sums[0] += pc.sum(batch.column("silver_txn_count")).as_py() or 0
        sums[1] += pc.sum(batch.column("silver_total_spend")).as_py() or 0
        keys.append(distinct(batch.column("customer_key")))

    def book(batch: Any) -> None:
        keys.append(distinct(batch.column("customer_id")))
        loan_ids.append(distinct(batch.column("loan_id")))

    if not (scanned_each(per_customer, ["customer_key", "silver_txn_count",
                                        "silver_total_spend"], figures)
            and scanned_each(customers, ["customer_id"],
                             lambda batch: keys.append(distinct(batch.column("customer_id"))))
            and scanned_each(loans, ["customer_id", "loan_id"], book)):
        return None

    def count(arrays: list[Any]) -> int:
        return len(pc.unique(pa.chunked_array(arrays, pa.string())))

    return SilverTotals(int(sums[0]), int(sums[1] * 100), count(keys), count(loan_ids))


def _cents(column: str) -> Column:
    return (F.col(column) * 100).cast("long")


@dataclass(frozen=True)
class Kept:
    """The rows of a Gold table that a write of ``slice`` keeps (those outside it), summed: the
    slice's own sums must make up the rest of Silver's totals, so that the table as written
    reconciles with Silver without its kept rows being read by the gate."""

    slice: Slice
    transactions: int
    spend_cents: int

    @classmethod
    def of(cls, current: DataFrame, slice: Slice, count: str = "txn_count",
           amount: str = "spend") -> Kept:
        """``current``: the table before the write. Its rows are read by pyarrow, a batch at
        a time, when it is a plain scan of local files of at most ``SCANNED_ROWS`` rows
        (``scanned_each``) and ``amount`` a decimal of at most two places (whose cents are then
        exact, as Spark's cast to long gives them)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = current.schema[amount].dataType
        if isinstance(kind, DecimalType) and kind.scale <= 2:
            sums: list[Any] = [0, Decimal(0)]
            start = pa.scalar(slice.start, pa.date32())

            def add(batch: pa.RecordBatch) -> None:
                key = batch.column(slice.column)
                kept = batch.filter(pc.or_kleene(pc.less(key, start), pc.is_null(key)))
                sums[0] += pc.sum(kept.column(count)).as_py() or 0
                sums[1] += pc.sum(kept.column(amount)).as_py() or 0

            if scanned_each(current, [slice.column, count, amount], add):
                return cls(slice, int(sums[0]), int(sums[1] * 100))
        row = current.where(slice.outside()).agg(F.sum(count).alias("n"),
                                                F.sum(_cents(amount)).alias("cents")).collect()[0]
        return cls(slice, int(row["n"] or 0), int(row["cents"] or 0))


def _non_negative(*columns: str) -> list[Any]:
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in columns]


def _sum_equals(column: str, value: int) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnSumToBeBetween(column=column, min_value=value, max_value=value)


def _every(column: str, value: bool) -> Any:
    """Every row of a flag column is ``value``."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[value])


def _no_card_numbers() -> Any:
    return _every(CARD_NUMBER_FOUND, False)


def _matches(column: str, silver_column: str) -> tuple[str, Column]:
    """``<column>_matches_silver``: whether a row's figure equals Silver's (never null)."""
    return f"{column}_matches_silver", F.col(column).eqNullSafe(F.col(silver_column))


class GoldGate(NamedTuple):
    frame: DataFrame  # the Gold frame with the columns its expectations check
    expectations: list[Any]
    rows: int  # the frame's rows


def gold_gates(gold: dict[TableId, DataFrame], per_customer: DataFrame,
               totals: SilverTotals, kept: Mapping[TableId, Kept] | None = None,
               rows: Mapping[TableId, int] | None = None) -> dict[TableId, GoldGate]:
    """For each Gold table: the frame to validate, its expectations and its rows.
    ``per_customer``: ``silver_per_customer`` of the snapshot's transactions. ``kept``: for a
    table of which ``gold`` holds only the slice an update rewrites, its other rows' sums; the
    gate checks that every row is in the slice and that the slice adds up to Silver's totals
    with them. ``rows``: each table's rows, when the caller knows them (they are counted
    otherwise)."""
    import great_expectations.expectations as gxe

    # Silver's figures per customer: one row per customer, broadcast, so that each of the
    # gate's Spark jobs does not shuffle both sides again. Each reconciliation is a column of
    # its own, checked in Great Expectations' aggregate pass with the other columns' checks
    # (ExpectColumnPairValuesToBeEqual cost three more Spark jobs each).
    counts, spend = (_matches("txn_count", "silver_txn_count"),
                     _matches("total_spend", "silver_total_spend"))
    summary = (gold[CUSTOMER_SUMMARY].join(F.broadcast(per_customer), "customer_key", "left")
               .withColumn("silver_txn_count", F.coalesce("silver_txn_count", F.lit(0)))
               .withColumn("silver_total_spend",
                           F.coalesce("silver_total_spend", F.lit(0)).cast("decimal(18,2)"))
               .withColumn("spend_cents", _cents("total_spend"))
               .withColumn(*counts).withColumn(*spend)
               .transform(with_card_number_flag))
    # The card-number scan leaves out the additive tables' sums (and their cents): the pipeline
    # computes them by adding up, they carry nothing from the input (the Silver gates scanned
    # the amounts they add up). The compound keys are hashed into one value after the scan,
    # which has their columns to scan.
    monthly = (gold[CUSTOMER_MONTHLY_SPEND].withColumn("spend_cents", _cents("spend"))
               .transform(with_card_number_flag, skip=[*MONTHLY_SUMS, "spend_cents"])
               .transform(with_gate_key, MONTHLY_KEYS))
    monthly_kept = (kept or {}).get(CUSTOMER_MONTHLY_SPEND)
    monthly_sums = totals.transactions, totals.spend_cents
    in_slice: list[Any] = []
    if monthly_kept is not None:
        monthly = monthly.withColumn("in_slice", ~monthly_kept.slice.outside())
        monthly_sums = (totals.transactions - monthly_kept.transactions,
                        totals.spend_cents - monthly_kept.spend_cents)
        in_slice = [_every("in_slice", True)]
    fraud = (gold[FRAUD_DAILY].withColumn("amount_cents", _cents("amount"))
             .transform(with_card_number_flag, skip=[*FRAUD_SUMS, "amount_cents", "fraud_rate"])
             .transform(with_gate_key, FRAUD_KEYS))
    loans = gold[LOAN_DEFAULT_FEATURES].transform(with_card_number_flag)
    if rows is None:  # the frames are staged: counting their rows is a quick job each
        rows = {table: frame.count() for table, frame in gold.items()}
    gates = {
        CUSTOMER_SUMMARY: (summary, [
            gxe.ExpectColumnValuesToNotBeNull(column="customer_key"),
            keys_unique(["customer_key"], rows[CUSTOMER_SUMMARY]),
            gxe.ExpectTableRowCountToEqual(value=totals.customers),
            *_non_negative("txn_count", "total_spend", "fraud_count", "fraud_amount",
                           "reward_points", "loan_count", "loans_outstanding"),
            _every(counts[0], True),
            _every(spend[0], True),
            _sum_equals("txn_count", totals.transactions),
            _sum_equals("spend_cents", totals.spend_cents),
            _no_card_numbers()]),
        CUSTOMER_MONTHLY_SPEND: (monthly, [
            keys_unique(MONTHLY_KEYS, rows[CUSTOMER_MONTHLY_SPEND]),
            *_non_negative("txn_count", "spend", "reward_points"),
            _sum_equals("txn_count", monthly_sums[0]),
            _sum_equals("spend_cents", monthly_sums[1]),
            *in_slice,
            _no_card_numbers()]),
        FRAUD_DAILY: (fraud, [
            keys_unique(FRAUD_KEYS, rows[FRAUD_DAILY]),
            gxe.ExpectColumnValuesToBeBetween(column="fraud_rate", min_value=0, max_value=1),
            *_non_negative("txn_count", "fraud_count", "amount", "fraud_amount"),
            _sum_equals("txn_count", totals.transactions),
            _sum_equals("amount_cents", totals.spend_cents),
            _no_card_numbers()]),
        LOAN_DEFAULT_FEATURES: (loans, [
            keys_unique(["loan_id"], rows[LOAN_DEFAULT_FEATURES]),
            gxe.ExpectTableRowCountToEqual(value=totals.loans),
            gxe.ExpectColumnValuesToNotBeNull(column="defaulted"),
            *_non_negative("principal", "card_txn_count", "card_spend"),
            _no_card_numbers()]),
    }
    return {table: GoldGate(frame, checks, rows[table])
            for table, (frame, checks) in gates.items()}
