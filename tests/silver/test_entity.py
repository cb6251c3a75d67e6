"""Entity.conform (exact columns and types, derived day, row hash) and Entity.check_source."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import SourceConfig, load_source
from lakehouse.errors import ConfigError
from lakehouse.silver import customers, transactions
from lakehouse.silver.entity import LINEAGE_SCHEMA, ROW_HASH

ENTITY = transactions.ENTITY
SOURCES = Path(__file__).resolve().parents[2] / "conf" / "sources"
PARSED = T.StructType([
    T.StructField("amount", T.StringType()),      # out of order, and text to be cast
    T.StructField("trans_id", T.StringType()),
    T.StructField("trans_ts", T.TimestampType()),
    T.StructField("city_pop", T.IntegerType()),
    T.StructField("is_fraud", T.BooleanType()),
    T.StructField("reasons", T.ArrayType(T.StringType())),   # not a table column
    T.StructField("source", T.StringType()),
    T.StructField("source_file", T.StringType()),
    T.StructField("ingest_run_id", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
])
RUN_AT = datetime(2024, 1, 17, tzinfo=UTC)


def ts(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def rows(spark, *specs):
    """Rows of (trans_id, amount text, trans_ts, source_file)."""
    return spark.createDataFrame(
        [(amount, trans_id, when, 1200, False, [], "transactions", file, "run-1", RUN_AT)
         for trans_id, amount, when, file in specs], PARSED)


def test_conform_gives_the_table_columns_in_order_with_their_types(spark):
    out = ENTITY.conform(rows(spark, ("t1", "12.5", ts(2024, 1, 15, 10), "f.csv")))
    assert out.schema.fieldNames() == ENTITY.schema.fieldNames()
    assert [f.dataType for f in out.schema.fields] == [f.dataType for f in ENTITY.schema.fields]


def test_conform_casts_and_fills_absent_columns_with_null(spark):
    row = ENTITY.conform(rows(spark, ("t1", "12.5", ts(2024, 1, 15, 10), "f.csv"))).first()
    assert (row.trans_id, row.amount, row.city_pop, row.is_fraud) == \
        ("t1", Decimal("12.50"), 1200, False)
    absent = set(transactions.COLUMNS.fieldNames()) - {f.name for f in PARSED.fields} - \
        {"trans_date"}
    assert absent and all(row[name] is None for name in absent)


def test_conform_keeps_lineage(spark):
    row = ENTITY.conform(rows(spark, ("t1", "1", ts(2024, 1, 15, 10), "day1.csv"))).first()
    lineage = {name: row[name] for name in LINEAGE_SCHEMA.fieldNames() if name != ROW_HASH}
    assert lineage == {"source": "transactions", "source_file": "day1.csv",
                       "ingest_run_id": "run-1",
                       "ingested_at": RUN_AT.astimezone().replace(tzinfo=None)}


def test_trans_date_is_the_utc_day(spark):
    out = ENTITY.conform(rows(spark, ("t1", "1", ts(2024, 1, 15, 0, 0, 0), "f.csv"),
                              ("t2", "1", ts(2024, 1, 15, 23, 59, 59), "f.csv"),
                              ("t3", "1", ts(2024, 1, 16, 0, 0, 0), "f.csv"),
                              ("t4", "1", None, "f.csv")))
    days = {r.trans_id: r.trans_date for r in out.collect()}
    assert days == {"t1": date(2024, 1, 15), "t2": date(2024, 1, 15), "t3": date(2024, 1, 16),
                    "t4": None}


def test_row_hash_depends_on_business_values_only(spark):
    out = ENTITY.conform(rows(spark, ("t1", "12.5", ts(2024, 1, 15, 10), "day1.csv"),
                              ("t1", "12.50", ts(2024, 1, 15, 10), "day2.csv"),  # same value
                              ("t1", "12.51", ts(2024, 1, 15, 10), "day1.csv"),
                              ("t1", "12.5", ts(2024, 1, 15, 11), "day1.csv")))
    hashes = {(r.source_file, str(r.amount), r.trans_ts.hour): r[ROW_HASH] for r in out.collect()}
    assert all(len(h) == 64 for h in hashes.values())
    assert hashes[("day1.csv", "12.50", 10)] == hashes[("day2.csv", "12.50", 10)]
    assert len(set(hashes.values())) == 3


def test_row_hash_is_stable_across_runs(spark):
    first = ENTITY.conform(rows(spark, ("t1", "12.5", ts(2024, 1, 15, 10), "f.csv")))
    again = ENTITY.conform(rows(spark, ("t1", "12.5", ts(2024, 1, 15, 10), "g.csv"))
                           .withColumn("ingest_run_id", F.lit("run-2")))
    assert first.first()[ROW_HASH] == again.first()[ROW_HASH]


def source_dict(name: str) -> dict:
    return yaml.safe_load((SOURCES / f"{name}.yaml").read_text())


def test_the_shipped_sources_fit_their_entities():
    for entity, name in ((transactions.ENTITY, "transactions"), (customers.ENTITY, "customers")):
        assert entity.check_source(load_source(SOURCES / f"{name}.yaml")) is None


def test_check_source_rejects_a_wrong_natural_key():
    data = source_dict("transactions")
    data["natural_key"] = ["merchant"]
    with pytest.raises(ConfigError, match=r"natural_key must be \['trans_id'\]"):
        ENTITY.check_source(SourceConfig.model_validate(data))


def test_check_source_rejects_a_missing_required_field():
    data = source_dict("transactions")
    del data["fields"]["amount"]
    with pytest.raises(ConfigError, match=r"needs fields \['amount'\]"):
        ENTITY.check_source(SourceConfig.model_validate(data))


def test_check_source_counts_a_card_field_as_its_token():
    data = source_dict("transactions")
    data["fields"]["pan"] = data["fields"].pop("card_number")   # gives pan_token, not card_token
    with pytest.raises(ConfigError, match="card_token"):
        ENTITY.check_source(SourceConfig.model_validate(data))


def test_a_missing_card_token_says_how_to_provide_it():
    """A card-number column left unmarked in the layout gives a plain card_number field, not
    the token the entity needs: the error says what gives one."""
    data = source_dict("transactions")
    data["layout"] = [c["name"] if isinstance(c, dict) and c["name"] == "cc_num" else c
                      for c in data["layout"]]
    with pytest.raises(ConfigError, match=r"needs fields \['card_token'\] \(card_token comes "
                       r"from a field named card or card_number that reads a layout column "
                       r"marked 'pii: pan'"):
        ENTITY.check_source(SourceConfig.model_validate(data))
