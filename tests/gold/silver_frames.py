"""Tiny Silver frames with the real Silver schemas, for Gold unit tests.

Each builder takes rows as dicts naming only the columns a test cares about; every other column
gets a plain default. Timestamps are written ``"YYYY-MM-DD HH:MM:SS"`` and mean UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse.silver.customers import ENTITY as CUSTOMERS
from lakehouse.silver.loans import ENTITY as LOANS
from lakehouse.silver.scd2 import history_schema
from lakehouse.silver.transactions import ENTITY as TRANSACTIONS
from lakehouse.silver.transactions import with_trans_date

INGESTED_AT = datetime(2024, 6, 30, 2, tzinfo=UTC)
_trans_ids = count(1)


def ts(text: str) -> datetime:
    """A UTC timestamp from ``YYYY-MM-DD[ HH:MM:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def money(text: str) -> Decimal:
    return Decimal(text)


def _lineage(source: str) -> dict[str, Any]:
    return {"source": source, "source_file": f"landing/{source}/part-1.csv",
            "ingest_run_id": "run-1", "ingested_at": INGESTED_AT, "row_hash": "0" * 64}


def _frame(spark: SparkSession, schema, defaults: dict[str, Any],
           rows: list[dict[str, Any]]) -> DataFrame:
    names = schema.fieldNames()
    data = []
    for row in rows:
        unknown = set(row) - set(names)
        assert not unknown, f"not a Silver column: {unknown}"
        full = {**defaults, **row}
        data.append(tuple(full.get(name) for name in names))
    return spark.createDataFrame(data, schema)


def transactions(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """silver.transactions; ``trans_date`` is derived from ``trans_ts`` as Silver derives it."""
    prepared = []
    for row in rows:
        row = dict(row)
        if isinstance(row.get("trans_ts"), str):
            row["trans_ts"] = ts(row["trans_ts"])
        if isinstance(row.get("amount"), str):
            row["amount"] = money(row["amount"])
        row.setdefault("trans_id", f"{next(_trans_ids):032x}")
        prepared.append(row)
    defaults = {
        "trans_ts": ts("2024-01-15 12:00:00"), "card_token": "tok-a",
        "card_masked": "************1111", "merchant": "fraud_Kirlin", "category": "grocery_pos",
        "amount": money("10.00"), "is_fraud": False, "gender": "F", "city": "Austin",
        "state": "TX", "zip": "78701", "lat": 30.27, "lng": -97.74, "city_pop": 900000,
        "job": "Engineer", "birth_year": 1990, "merch_lat": 30.3, "merch_lng": -97.7,
        **_lineage("transactions"),
    }
    frame = _frame(spark, TRANSACTIONS.schema, defaults, prepared)
    # trans_date is derived exactly as Silver derives it (UTC calendar day of trans_ts).
    return frame.transform(with_trans_date).select(*TRANSACTIONS.schema.fieldNames())


def _customer_defaults() -> dict[str, Any]:
    return {"updated_at": ts("2023-01-01 00:00:00"), "card_token": None, "card_masked": None,
            "gender": "F", "birth_year": 1980, "city": "Boston", "state": "MA", "zip": "02108",
            "job": "Teacher", "annual_income": money("60000.00"), "credit_score": 700,
            **_lineage("customers")}


def _prepare_customer(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    if isinstance(row.get("updated_at"), str):
        row["updated_at"] = ts(row["updated_at"])
    if isinstance(row.get("annual_income"), str):
        row["annual_income"] = money(row["annual_income"])
    return row


def customers(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """silver.customers (current state: one row per customer_id)."""
    return _frame(spark, CUSTOMERS.schema, _customer_defaults(),
                  [_prepare_customer(r) for r in rows])


def customers_history(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """silver.customers_history: versions, with validity intervals computed per customer."""
    versions = [{**_customer_defaults(), **_prepare_customer(r)} for r in rows]
    for version in versions:
        later = sorted(v["updated_at"] for v in versions
                       if v["customer_id"] == version["customer_id"]
                       and v["updated_at"] > version["updated_at"])
        version["valid_from"] = version["updated_at"]
        version["valid_to"] = later[0] if later else None
        version["is_current"] = not later
    return _frame(spark, history_schema(CUSTOMERS.schema), {}, versions)


def current_customers(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """silver.customers built from the same version rows as ``customers_history``."""
    latest: dict[str, dict[str, Any]] = {}
    for row in (_prepare_customer(r) for r in rows):
        stamp = row.get("updated_at", _customer_defaults()["updated_at"])
        seen = latest.get(row["customer_id"])
        if seen is None or stamp > seen.get("updated_at", _customer_defaults()["updated_at"]):
            latest[row["customer_id"]] = row
    return customers(spark, *latest.values())


def loans(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    """silver.loans: one row per loan and snapshot date."""
    prepared = []
    for row in rows:
        row = dict(row)
        for name in ("as_of_date", "origination_date"):
            if isinstance(row.get(name), str):
                row[name] = d(row[name])
        for name in ("principal", "interest_rate", "outstanding_balance"):
            if isinstance(row.get(name), str):
                row[name] = money(row[name])
        prepared.append(row)
    defaults = {"customer_id": "C1", "product": "personal", "principal": money("10000.00"),
                "interest_rate": money("0.07500"), "term_months": 36,
                "origination_date": d("2023-01-15"), "status": "current", "days_past_due": 0,
                "outstanding_balance": money("9000.00"), **_lineage("loans")}
    return _frame(spark, LOANS.schema, defaults, prepared)


def reward_rules(spark: SparkSession, *rows: tuple[str, str, str, str | None]) -> DataFrame:
    """Reward rules as ``load_rules`` returns them: (category, rate, valid_from, valid_to)."""
    from lakehouse.gold.rewards import RULES_SCHEMA

    return spark.createDataFrame(
        [(category, money(rate), d(start), d(end) if end else None)
         for category, rate, start, end in rows], RULES_SCHEMA)
