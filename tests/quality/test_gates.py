"""Each kind of expectation fails on the data it guards against, with real Great Expectations."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import great_expectations.expectations as gxe
import pytest
from great_expectations.expectations.row_conditions import Column
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.gold.build import (
    CUSTOMER_MONTHLY_SPEND,
    CUSTOMER_SUMMARY,
    FRAUD_DAILY,
    LOAN_DEFAULT_FEATURES,
    SilverSnapshot,
    Slice,
    build_gold,
    enriched_transactions,
)
from lakehouse.gold.expectations import Kept, SilverTotals, gold_gates, silver_per_customer
from lakehouse.gold.rewards import load_rules
from lakehouse.io.lake import Lake
from lakehouse.pii.card import luhn_check_digit
from lakehouse.pii.columns import with_card_number_flag
from lakehouse.quality import gates as gates_module
from lakehouse.quality.gates import (
    DQ_RESULTS_SCHEMA,
    Gate,
    QualityGates,
    columns_read,
    results_records,
)
from lakehouse.quality.keys import GATE_KEY, keys_unique, with_gate_key
from lakehouse.reference import load_reference_values
from lakehouse.runtime.spark import spark_jobs_started
from lakehouse.silver import ENTITIES
from lakehouse.silver.batch import CLEAN, OUTCOME
from lakehouse.silver.expectations import silver_expectations
from tests.gold.silver_frames import current_customers, customers_history, loans, transactions

SETTINGS = load_settings(environ={})
SOURCE = SETTINGS.sources["transactions"]
ENTITY = ENTITIES["transactions"]
REFERENCES = load_reference_values(SETTINGS.reference_dir)
PAN = "4000000000000" + luhn_check_digit("4000000000000")


# Every case runs on both engines: in Spark (no batch is small enough for the driver) and in
# the driver with pandas (every batch is).
ENGINES = {"spark": 0, "pandas": 10**9}


@pytest.fixture(scope="module", params=ENGINES)
def gates(request, tmp_path_factory) -> QualityGates:
    gates = QualityGates(Lake.at(tmp_path_factory.mktemp("gx")),
                         in_memory_rows=ENGINES[request.param])
    gates.expected_engine = request.param  # type: ignore[attr-defined]
    return gates


class Both:
    """Validates a batch on each engine, with one context (as one run does)."""

    def __init__(self, gates: QualityGates) -> None:
        self.gates = gates

    def validate(self, table, frame, expectations, run_id, rows) -> dict[str, Any]:
        out = {}
        for engine, limit in ENGINES.items():
            self.gates.in_memory_rows = limit
            out[engine] = self.gates.validate(table, frame, [e.copy() for e in expectations],
                                              f"{run_id}-{engine}", rows=rows)
        return out


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Both:
    return Both(QualityGates(Lake.at(tmp_path_factory.mktemp("gx-both"))))


def classified_row(n: int, **changes):
    row = {"trans_id": f"t{n}", "trans_ts": datetime(2024, 1, 1, 12, tzinfo=UTC),
           "card_token": "a" * 64, "card_masked": "************1111", "merchant": "Shop",
           "category": "travel", "amount": Decimal("10.00"), "gender": "F", "city": "Boston",
           "state": "MA", "zip": "02108", "lat": 42.3, "lng": -71.0, "city_pop": 1000,
           "job": "Nurse", "birth_year": 1980, "merch_lat": 42.0, "merch_lng": -71.5,
           "is_fraud": False, "reasons": [], "raw_redacted": "{}", "source": "transactions",
           "source_file": "f.csv", "outcome": "clean"}
    row.update(changes)
    return row


def classified(spark, rows):
    schema = ("trans_id string, trans_ts timestamp, card_token string, card_masked string, "
              "merchant string, category string, amount decimal(12,2), gender string, "
              "city string, state string, zip string, lat double, lng double, city_pop long, "
              "job string, birth_year int, merch_lat double, merch_lng double, "
              "is_fraud boolean, reasons array<string>, raw_redacted string, source string, "
              "source_file string, outcome string")
    names = [part.split()[0] for part in schema.split(", ")]
    data = [tuple(r[n] for n in names) for r in rows]
    return spark.createDataFrame(data, schema).transform(with_card_number_flag)


def published(rows) -> int:
    """How many rows the batch would publish (the pipeline counts them before its gate)."""
    return sum(r["outcome"] == "clean" for r in rows)


def failed(gate) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in gate.failures}


GOOD = [classified_row(i) for i in range(20)]
UNIQUE = "expect_column_unique_value_count_to_be_between"


def test_a_clean_batch_passes_and_results_are_recorded(spark, gates):
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES,
                                       published(GOOD))
    gate = gates.validate("silver.transactions", classified(spark, GOOD), expectations, "r1")
    assert gate.success, [f.describe() for f in gate.failures]
    assert len(gate.results) == len(expectations) >= 15
    frame = spark.createDataFrame(results_records("r1", [gate]), DQ_RESULTS_SCHEMA)
    assert frame.count() == len(expectations)
    assert Path(gates.render_docs()).exists()


@pytest.mark.parametrize("run_id", ["20261205T025912Z-87a22a", "20261205T025912Z-5337ad"])
def test_a_run_id_that_reads_like_a_date_is_validated(spark, gates, run_id):
    """Great Expectations parses a run name without a run time as a date; these ids (from
    ``new_run_id``) parse into an impossible UTC offset, which failed the gate's store key."""
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES,
                                       published(GOOD))
    gate = gates.validate("silver.transactions", classified(spark, GOOD), expectations, run_id)
    assert gate.success, [f.describe() for f in gate.failures]


def test_data_docs_render_once_per_step_and_the_index_links_the_latest_results(
        spark, tmp_path, monkeypatch):
    monkeypatch.setattr(gates_module, "INDEX_LIMIT", 2)
    gates = QualityGates(Lake.at(tmp_path / "lake"))
    frame = spark.createDataFrame([(1,), (2,)], "n int")
    pages = tmp_path / "lake" / "_quality" / "gx" / "uncommitted" / "data_docs" / "local_site"
    for runs, run in enumerate(("run-a", "run-b", "run-c"), start=1):
        for table in ("t.first", "t.second"):
            expectations = [gxe.ExpectColumnValuesToNotBeNull(column="n")]
            assert gates.validate(table, frame, expectations, run).success
        if runs == 1:
            assert not (pages / "validations").exists(), "rendered by render_docs, not a gate"
        index = Path(gates.render_docs())
        assert len(list((pages / "validations").rglob("*.html"))) == 2 * runs
    # every result is rendered; the index links only the latest two (run-c's)
    linked = re.findall(r"validations/t/(first|second)/([^/]+)/", index.read_text())
    assert set(linked) == {("first", "run-c"), ("second", "run-c")}


def test_a_lakes_gates_read_no_config_variables_file(spark, tmp_path, monkeypatch):
    """Great Expectations parses its config variables file each time it reads a setting; the
    lake's context has the file turned off by its first gate, and later gates never read it."""
    from great_expectations.core.config_provider import (
        _ConfigurationVariablesConfigurationProvider as FileVariables,
    )

    frame = spark.createDataFrame([(1,), (2,)], "n int")

    def expectations() -> list:
        return [gxe.ExpectColumnValuesToNotBeNull(column="n")]

    assert QualityGates(Lake.at(tmp_path / "lake")).validate("t.first", frame, expectations(),
                                                             "run-a").success
    config = tmp_path / "lake" / "_quality" / "gx" / "great_expectations.yml"
    assert "config_variables.yml" not in config.read_text()
    reads: list[str] = []
    monkeypatch.setattr(FileVariables, "get_values", lambda self: reads.append("read") or {})
    gates = QualityGates(Lake.at(tmp_path / "lake"))
    assert gates.validate("t.first", frame, expectations(), "run-b").success
    assert gates.validate("t.second", frame, expectations(), "run-b").success
    assert Path(gates.render_docs()).is_file() and reads == []


@pytest.mark.parametrize(("name", "rows", "expected"), [
    ("quarantine rate above the limit",
     GOOD[:15] + [classified_row(i, outcome="quarantined", reasons=["bad_number"])
                  for i in range(15, 20)],
     ("expect_column_values_to_be_in_set", "outcome")),
    ("key not unique", GOOD[:19] + [classified_row(0)],
     (UNIQUE, "trans_id")),
    # a duplicate that is not published (skipped as a duplicate) is no failure, a published
    # one is
    ("key published twice", GOOD[:18] + [classified_row(0, outcome="duplicate"),
                                         classified_row(1)],
     (UNIQUE, "trans_id")),
    ("required field null", GOOD[:19] + [classified_row(19, amount=None)],
     ("expect_column_values_to_not_be_null", "amount")),
    ("value out of range", GOOD[:19] + [classified_row(19, lat=95.0)],
     ("expect_column_values_to_be_between", "lat")),
    ("value not accepted", GOOD[:19] + [classified_row(19, category="space_travel")],
     ("expect_column_values_to_be_in_set", "category")),
    ("card number in a column", GOOD[:19] + [classified_row(19, merchant=f"Shop {PAN}")],
     ("expect_column_values_to_be_in_set", "card_number_found")),
])
def test_each_silver_expectation_fails_on_its_defect(spark, gates, name, rows, expected):
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES,
                                       published(rows))
    gate = gates.validate("silver.transactions", classified(spark, rows), expectations, "r2",
                          rows=len(rows))
    assert failed(gate) == {expected}, name
    assert (gate.engine, gate.rows) == (gates.expected_engine, len(rows))
    assert PAN not in " ".join(f.describe() for f in gate.failures)


def test_a_batch_of_one_source_is_gated_without_a_source_condition():
    """One source: the checks on clean rows share one condition, the rate check has none."""
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES, 20)
    conditions = {str(e.row_condition) for e in expectations if e.row_condition}
    assert conditions == {str(Column(OUTCOME) == CLEAN)}
    rate = next(e for e in expectations if e.column == OUTCOME)
    assert rate.row_condition is None and rate.mostly == 0.9


def test_each_source_of_a_batch_has_its_own_quarantine_rate(spark, gates):
    """Two sources of one entity: 5 of 10 rows of the second quarantined fails its rate (10%
    allowed) and not the first one's; counted together (5 of 30) both would fail."""
    other = SOURCE.model_copy(update={"name": "transactions_b"})
    rows = GOOD + [classified_row(100 + i, source="transactions_b") for i in range(5)] + [
        classified_row(200 + i, source="transactions_b", outcome="quarantined",
                       reasons=["bad_number"]) for i in range(5)]
    expectations = silver_expectations(ENTITY, [SOURCE, other], SETTINGS.quality, REFERENCES,
                                       published(rows))
    gate = gates.validate("silver.transactions", classified(spark, rows), expectations, "r5")
    rates = [r for r in gate.results if r.column == OUTCOME]
    assert len(rates) == 2
    assert sorted(r.success for r in rates) == [False, True]
    assert failed(gate) == {("expect_column_values_to_be_in_set", OUTCOME)}


def test_a_table_gated_again_is_checked_with_its_new_expectations(spark, gates, tmp_path):
    """The second gate of a table reuses its stored checkpoint and validation definition, with
    the suite saved anew: it checks the new expectations only, and the stored suite holds them
    (a new context over the same folder, as the next run opens, reads them back)."""
    import great_expectations.expectations as gxe

    lake = Lake.at(tmp_path / "lake")
    first = QualityGates(lake, in_memory_rows=gates.in_memory_rows)
    failing = [gxe.ExpectColumnValuesToBeInSet(column="category", value_set=["nope"])]
    assert failed(first.validate("silver.t", classified(spark, GOOD), failing, "r1")) == {
        ("expect_column_values_to_be_in_set", "category")}
    again = QualityGates(lake, in_memory_rows=gates.in_memory_rows)  # the next run
    passing = [gxe.ExpectColumnValuesToNotBeNull(column="trans_id"),
               gxe.ExpectColumnValuesToBeInSet(column="category", value_set=["travel"])]
    gate = again.validate("silver.t", classified(spark, GOOD), passing, "r2")
    assert gate.success and [(r.expectation, r.column) for r in gate.results] == [
        ("expect_column_values_to_not_be_null", "trans_id"),
        ("expect_column_values_to_be_in_set", "category")]
    stored = QualityGates(lake).context.suites.get("silver.t")
    assert sorted(e.expectation_type for e in stored.expectations) == [
        "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_null"]
    assert Path(again.render_docs()).exists()


def test_an_expectation_that_raises_says_why(spark, gates):
    """An expectation Great Expectations cannot compute (here: on a column the batch lacks)
    fails, and its result says what went wrong instead of nothing."""
    import great_expectations.expectations as gxe

    expectations = [gxe.ExpectColumnValuesToBeBetween(column="no_such_column", min_value=0),
                    gxe.ExpectColumnValuesToNotBeNull(column="trans_id")]
    gate = gates.validate("silver.transactions", classified(spark, GOOD), expectations, "r6")
    assert [r.success for r in gate.results] == [False, True]
    described = gate.failures[0].describe()
    assert described.startswith("silver.transactions: expect_column_values_to_be_between("
                                "no_such_column) failed: observed an error: "), described
    assert "no_such_column" in described.split("observed an error: ", 1)[1], described


@pytest.fixture(scope="module")
def gold_inputs(spark):
    versions = ({"customer_id": "C1", "updated_at": "2023-01-01 00:00:00",
                 "card_token": "tok-1"},)
    silver = SilverSnapshot(
        transactions=transactions(
            spark,
            {"card_token": "tok-1", "trans_ts": "2024-01-10 09:00:00", "amount": "12.34"},
            {"card_token": "tok-2", "trans_ts": "2024-01-11 10:00:00", "amount": "5.00",
             "is_fraud": True}),
        customers=current_customers(spark, *versions),
        customers_history=customers_history(spark, *versions),
        loans=loans(spark, {"loan_id": "L1", "customer_id": "C1",
                            "as_of_date": "2024-01-31"}),
        reward_rules=load_rules(spark, SETTINGS.reference_dir / "reward_rules.csv"))
    # materialized, as the pipeline stages them before its gates: each gate below then reads
    # a few rows instead of planning and running the whole Gold build again
    per_customer = silver_per_customer(enriched_transactions(silver)).localCheckpoint()
    gold = {table: frame.localCheckpoint()
            for table, frame in build_gold(silver, date(2024, 1, 31)).items()}
    return gold, per_customer, SilverTotals.of(per_customer, silver.customers, silver.loans)


def test_gold_built_from_silver_passes(gates, gold_inputs):
    gold, per_customer, totals = gold_inputs
    assert (totals.transactions, totals.spend_cents, totals.customers, totals.loans) == \
        (2, 1734, 2, 1)
    for table, (frame, expectations, rows) in gold_gates(gold, per_customer, totals).items():
        assert rows == frame.count()
        gate = gates.validate(str(table), frame, expectations, "r3", rows=rows)
        assert gate.success, [f.describe() for f in gate.failures]
        assert (gate.engine, gate.rows) == (gates.expected_engine, rows)


@pytest.mark.parametrize(("table", "breakage", "expected"), [
    (CUSTOMER_SUMMARY, lambda df: df.unionByName(df.limit(1)),
     {(UNIQUE, "customer_key"),
      ("expect_table_row_count_to_equal", None),
      ("expect_column_sum_to_be_between", "txn_count"),
      ("expect_column_sum_to_be_between", "spend_cents")}),
    (CUSTOMER_SUMMARY, lambda df: df.withColumn("total_spend", F.col("total_spend") + 1),
     {("expect_column_values_to_be_in_set", "total_spend_matches_silver"),
      ("expect_column_sum_to_be_between", "spend_cents")}),
    # one customer's count moved to another: the totals still add up
    (CUSTOMER_SUMMARY, lambda df: df.withColumn("txn_count", F.when(
        F.col("customer_key") == "C1", F.col("txn_count") + 1).otherwise(F.col("txn_count") - 1)),
     {("expect_column_values_to_be_in_set", "txn_count_matches_silver")}),
    (CUSTOMER_SUMMARY, lambda df: df.withColumn("reward_points", F.lit(-1).cast("long")),
     {("expect_column_values_to_be_between", "reward_points")}),
    # a compound key, checked as one value
    (CUSTOMER_MONTHLY_SPEND, lambda df: df.unionByName(df.limit(1)),
     {(UNIQUE, GATE_KEY),
      ("expect_column_sum_to_be_between", "txn_count"),
      ("expect_column_sum_to_be_between", "spend_cents")}),
    (FRAUD_DAILY, lambda df: df.unionByName(df.limit(1)),
     {(UNIQUE, GATE_KEY),
      ("expect_column_sum_to_be_between", "txn_count"),
      ("expect_column_sum_to_be_between", "amount_cents")}),
    (FRAUD_DAILY, lambda df: df.withColumn("fraud_rate", F.lit(1.5)),
     {("expect_column_values_to_be_between", "fraud_rate")}),
    (FRAUD_DAILY, lambda df: df.withColumn("state", F.lit(PAN)),
     {("expect_column_values_to_be_in_set", "card_number_found")}),
    # the monthly spend's sums are not scanned, its text is
    (CUSTOMER_MONTHLY_SPEND, lambda df: df.withColumn("category", F.lit(PAN)),
     {("expect_column_values_to_be_in_set", "card_number_found")}),
])
def test_each_gold_expectation_fails_on_its_defect(gates, gold_inputs, table, breakage,
                                                   expected):
    gold, per_customer, totals = gold_inputs
    broken = {**gold, table: breakage(gold[table])}
    frame, expectations, _ = gold_gates(broken, per_customer, totals)[table]
    gate = gates.validate(str(table), frame, expectations, "r4")
    assert gate.engine == gates.expected_engine
    assert {(e, c.split(",")[0] if c else c) for e, c in failed(gate)} == expected


def _sliced_monthly(gates, gold_inputs, slice_rows, kept_from):
    """The monthly spend's gate when an update rewrites its months from January 2024 on: the
    table also holds a December 2023 row (3 transactions, 10.00), which the write keeps."""
    gold, per_customer, totals = gold_inputs
    monthly = gold[CUSTOMER_MONTHLY_SPEND]
    december = monthly.limit(1).select(
        "customer_key", F.lit(date(2023, 12, 1)).alias("month"), "category",
        F.lit(3).cast("long").alias("txn_count"), F.lit(Decimal("10.00")).cast(
            monthly.schema["spend"].dataType).alias("spend"),
        F.lit(0).cast("long").alias("fraud_count"), F.lit(0).cast("long").alias("reward_points"))
    current = monthly.unionByName(december)
    slice_ = Slice("month", date(2024, 1, 1))
    totals = SilverTotals(totals.transactions + 3, totals.spend_cents + 1000, totals.customers,
                          totals.loans)
    kept = {CUSTOMER_MONTHLY_SPEND: Kept.of(kept_from(current, december), slice_)}
    frame, expectations, rows = gold_gates({**gold, CUSTOMER_MONTHLY_SPEND: slice_rows(
        monthly, december)}, per_customer, totals, kept)[CUSTOMER_MONTHLY_SPEND]
    return kept[CUSTOMER_MONTHLY_SPEND], gates.validate(
        str(CUSTOMER_MONTHLY_SPEND), frame, expectations, "r6", rows=rows)


def test_a_slice_of_the_monthly_spend_reconciles_with_the_rows_its_write_keeps(gates,
                                                                               gold_inputs):
    kept, gate = _sliced_monthly(gates, gold_inputs, lambda monthly, _: monthly,
                                 lambda current, _: current)
    assert (kept.transactions, kept.spend_cents) == (3, 1000)
    assert gate.success, [f.describe() for f in gate.failures]
    # a row outside the slice (the write would keep its old version too)
    _, gate = _sliced_monthly(gates, gold_inputs, lambda monthly, dec: monthly.unionByName(dec),
                              lambda current, _: current)
    assert failed(gate) == {("expect_column_values_to_be_in_set", "in_slice"),
                            ("expect_column_sum_to_be_between", "txn_count"),
                            ("expect_column_sum_to_be_between", "spend_cents")}
    # kept rows that do not make up the rest of Silver's totals (December lost)
    _, gate = _sliced_monthly(gates, gold_inputs, lambda monthly, _: monthly,
                              lambda current, dec: current.exceptAll(dec))
    assert failed(gate) == {("expect_column_sum_to_be_between", "txn_count"),
                            ("expect_column_sum_to_be_between", "spend_cents")}


def results_of(gate) -> list[tuple]:
    return sorted((r.expectation, r.column or "", r.success, r.observed, r.unexpected_count,
                   r.unexpected_percent, r.element_count) for r in gate.results)


SILVER_DEFECTS = [
    GOOD[:15] + [classified_row(i, outcome="quarantined", reasons=["bad_number"])
                 for i in range(15, 20)],
    GOOD[:18] + [classified_row(0, outcome="duplicate"), classified_row(1)],
    GOOD[:17] + [classified_row(17, amount=None), classified_row(18, lat=95.0, lng=None),
                 classified_row(19, category="space_travel", merchant=f"Shop {PAN}")],
    # decimals at and beyond their bounds (0.01 and 100000): Spark compares them with the
    # bounds as doubles, Python's Decimal('0.01') >= 0.01 would be false
    GOOD[:16] + [classified_row(16, amount=Decimal("0.01")),
                 classified_row(17, amount=Decimal("100000.00")),
                 classified_row(18, amount=Decimal("100000.01")),
                 classified_row(19, amount=Decimal("0.00"))],
    [],  # no rows at all
]


@pytest.mark.parametrize("rows", SILVER_DEFECTS, ids=["rate", "published twice", "several",
                                                       "decimal bounds", "empty"])
def test_both_engines_give_the_same_results(spark, both, rows):
    """Not only the same failures: the same observed values, unexpected counts and shares."""
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES,
                                       published(rows))
    frame = with_gate_key(classified(spark, rows), ENTITY.key)
    gates = both.validate("silver.transactions", frame, expectations, "e1", len(rows))
    assert {engine: gate.engine for engine, gate in gates.items()} == {e: e for e in ENGINES}
    assert results_of(gates["pandas"]) == results_of(gates["spark"])
    assert gates["spark"].success == (rows == [])  # each batch above but the empty one fails


def test_both_engines_give_the_same_gold_results(both, gold_inputs):
    gold, per_customer, totals = gold_inputs
    broken = {**gold, CUSTOMER_SUMMARY: gold[CUSTOMER_SUMMARY].withColumn(
        "total_spend", F.col("total_spend") - 20).withColumn("reward_points", F.lit(-1))}
    for table, (frame, expectations, rows) in gold_gates(broken, per_customer, totals).items():
        results = [results_of(gate) for gate in
                   both.validate(str(table), frame, expectations, "e2", rows).values()]
        assert results[0] == results[1], table
        assert all(result[2] for result in results[0]) == (table != CUSTOMER_SUMMARY), table


def test_gates_validated_together_give_each_gates_own_result_in_order(gold_inputs, tmp_path):
    """``validate_all`` (Gold's gates, their batches fetched ahead) against ``validate`` one by
    one: the same results per table, in the order given, on both engines at once."""
    gold, per_customer, totals = gold_inputs
    broken = {**gold, CUSTOMER_SUMMARY: gold[CUSTOMER_SUMMARY].withColumn(
        "reward_points", F.lit(-1).cast("long"))}
    every = gold_gates(broken, per_customer, totals)
    # not in build order; the summary (2 rows) in Spark, the loans (1 row) in the driver
    checks = {t: every[t] for t in (LOAN_DEFAULT_FEATURES, CUSTOMER_SUMMARY)}
    gates = QualityGates(Lake.at(tmp_path / "lake"), in_memory_rows=1)
    started = time.perf_counter()
    together = gates.validate_all([Gate(str(t), frame, expectations, rows) for
                                   t, (frame, expectations, rows) in checks.items()], "t1")
    elapsed = time.perf_counter() - started
    alone = [gates.validate(str(t), frame, [e.copy() for e in expectations], "t2", rows=rows)
             for t, (frame, expectations, rows) in checks.items()]
    assert [g.table for g in together] == [str(t) for t in checks] == [g.table for g in alone]
    assert {g.engine for g in together} == {"pandas", "spark"}
    assert [(g.engine, g.rows, results_of(g)) for g in together] == \
        [(g.engine, g.rows, results_of(g)) for g in alone]
    assert [g.success for g in together] == [t != CUSTOMER_SUMMARY for t in checks]
    # each gate's time runs from the end of the one before: together, the call's time
    assert sum(g.seconds for g in together) <= elapsed + 0.01


def test_a_small_batch_is_collected_once_with_only_the_columns_its_expectations_read(
        spark, tmp_path):
    """Up to ``in_memory_rows`` rows (counted when the caller does not know): the driver, with
    the columns of the expectations and of their row conditions; above it: Spark."""
    expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES, 20)
    frame = with_gate_key(classified(spark, GOOD), ENTITY.key)
    read = columns_read(expectations, frame.columns)
    assert {OUTCOME, "trans_id", "amount", "category", "card_number_found"} <= set(read)
    assert {"reasons", "raw_redacted", "source_file", GATE_KEY} & set(read) == set()
    assert read == [c for c in frame.columns if c in read]
    table_only = [gxe.ExpectTableRowCountToEqual(value=20)]
    assert columns_read(table_only, frame.columns) == frame.columns[:1]
    # a check of the batch's columns themselves sees all of them
    schema = [gxe.ExpectTableColumnCountToEqual(value=len(frame.columns))]
    assert columns_read(schema + expectations, frame.columns) == frame.columns

    gates = QualityGates(Lake.at(tmp_path / "lake"), in_memory_rows=20)
    small = gates.validate("silver.transactions", frame, expectations, "s1")
    assert (small.engine, small.rows, small.success) == ("pandas", 20, True)
    bigger = with_gate_key(classified(spark, GOOD + [classified_row(20)]), ENTITY.key)
    large = gates.validate("silver.transactions", bigger, [e.copy() for e in silver_expectations(
        ENTITY, [SOURCE], SETTINGS.quality, REFERENCES, 21)], "s2")
    assert (large.engine, large.rows, large.success) == ("spark", 21, True)
    assert large.where() == "spark, 21 rows"


PRELOAD = """
import sys
from lakehouse.quality.gates import QualityGates, _preloading
assert "great_expectations" not in sys.modules
QualityGates.preload()
QualityGates.preload()
assert [t.name for t in _preloading] == ["gx-import"], _preloading
_preloading[0].join(300)
assert "great_expectations.expectations" in sys.modules
# rfc3987-syntax (beside Jupyter) was left out of the import, and is importable again after it
import importlib.util
if importlib.util.find_spec("rfc3987_syntax") is not None:
    assert "rfc3987_syntax" not in sys.modules
    import rfc3987_syntax
"""


def test_preload_imports_great_expectations_once_in_the_background():
    """A run that will gate starts the (slow, pure Python) import while Spark works."""
    subprocess.run([sys.executable, "-c", PRELOAD], check=True, timeout=360)


def test_a_compound_key_is_unique_when_no_two_rows_share_all_of_its_columns(spark, gates):
    """Each pair of rows differs in one column only (a null included); the gate key tells them
    apart, whatever characters the values hold, and the expectation fails once two rows share
    the whole key. No rows: nothing to fail."""
    rows = [("a", "b", 1), ("a", "c", 1), ("a", None, 1), (None, "a", 1), ("a\u0001b", None, 1),
            ("a,b", "c", 1), ("a", "b,c", 1), ('"a"', "b", 1), ("a", '"b"', 1)]
    frame = spark.createDataFrame(rows, "x string, y string, n int")
    key = ["x", "y"]
    keyed = with_gate_key(frame, key)
    assert keyed.select(GATE_KEY).distinct().count() == len(rows)
    assert gates.validate("t.keys", keyed, [keys_unique(key, len(rows))], "k1").success
    doubled = with_gate_key(frame.unionByName(frame.limit(1)), key)
    gate = gates.validate("t.keys", doubled, [keys_unique(key, len(rows) + 1)], "k2")
    assert failed(gate) == {(UNIQUE, GATE_KEY)}
    empty = with_gate_key(frame.limit(0), key)
    assert gates.validate("t.keys", empty, [keys_unique(key, 0)], "k3").success
    # a single-column key is checked as itself, with no column added; a null is no key
    assert with_gate_key(frame, ["x"]).columns == frame.columns
    distinct_x = [("a",), ("b",), (None,)]
    single = spark.createDataFrame(distinct_x, "x string")
    gate = gates.validate("t.keys", single, [keys_unique(["x"], 3)], "k4")
    assert failed(gate) == {(UNIQUE, "x")}
    assert gates.validate("t.keys", single.where("x IS NOT NULL"), [keys_unique(["x"], 2)],
                          "k5").success


def test_gates_do_not_cache_the_batch_in_memory(spark, tmp_path):
    """Batches are staged Parquet: Great Expectations reads them again per metric instead of
    caching every column (its default), also in a lake whose datasource was created with it."""
    import great_expectations as gx

    frame = spark.createDataFrame([(1,), (2,)], "n int")
    expectations = [gxe.ExpectColumnValuesToNotBeNull(column="n")]
    fresh = QualityGates(Lake.at(tmp_path / "fresh"))
    assert fresh.validate("t.n", frame, expectations, "p1").success
    assert not frame.is_cached

    older = tmp_path / "older"
    context = gx.get_context(mode="file", project_root_dir=older / "_quality")
    context.data_sources.add_spark("lakehouse")
    assert context.data_sources.get("lakehouse").persist  # what an older lake holds
    gates = QualityGates(Lake.at(older))
    other = spark.createDataFrame([(3,)], "n int")
    assert gates.validate("t.n", other, [gxe.ExpectColumnValuesToNotBeNull(column="n")],
                          "p2").success
    assert not other.is_cached
    reopened = gx.get_context(mode="file", project_root_dir=older / "_quality")
    assert reopened.data_sources.get("lakehouse").persist is False


def test_a_staged_batch_is_validated_from_its_files_with_the_results_spark_gives(spark,
                                                                                   tmp_path):
    """A batch the pipeline staged (a plain scan of Parquet files) is read by pyarrow, without a
    Spark job: the same results as the batch collected by Spark, failures included."""
    rows = GOOD[:16] + [classified_row(0, outcome="duplicate"), classified_row(1),
                        classified_row(17, amount=None), classified_row(18, lat=95.0),
                        classified_row(19, amount=Decimal("1999.87"))]
    frame = classified(spark, rows)
    frame.write.parquet(str(tmp_path / "staged"))
    staged = spark.read.schema(frame.schema).parquet(str(tmp_path / "staged"))
    gates = QualityGates(Lake.at(tmp_path / "lake"), in_memory_rows=len(rows))

    def validate(batch, run_id):
        expectations = silver_expectations(ENTITY, [SOURCE], SETTINGS.quality, REFERENCES,
                                           published(rows))
        return gates.validate("silver.transactions", batch, expectations, run_id,
                              rows=len(rows))

    started = spark_jobs_started(spark)
    from_files = validate(staged, "f1")
    assert spark_jobs_started(spark) == started, "the batch was read without a Spark job"
    collected = validate(frame, "f2")
    assert spark_jobs_started(spark) > started
    assert from_files.engine == collected.engine == "pandas"
    assert failed(from_files) == {(UNIQUE, "trans_id"),
                                  ("expect_column_values_to_not_be_null", "amount"),
                                  ("expect_column_values_to_be_between", "lat")}
    assert from_files.results == collected.results
