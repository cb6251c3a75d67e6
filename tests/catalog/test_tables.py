"""Table definitions, declared once: Glue types, the TableInput round trip, the committed
crawler definitions, and the local catalog's create / unchanged / update cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.catalog.store import LocalCatalog
from lakehouse.catalog.tables import (
    SYMLINK_FORMAT,
    Column,
    TableDefinition,
    crawler_definitions,
    crawlers_json,
    declared_tables,
    hive_type,
)
from lakehouse.config import load_settings
from lakehouse.io.lake import Lake, TableId

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("arrow", "hive"), [
    (pa.string(), "string"), (pa.large_string(), "string"), (pa.bool_(), "boolean"),
    (pa.int8(), "tinyint"), (pa.int16(), "smallint"), (pa.int32(), "int"),
    (pa.int64(), "bigint"), (pa.float32(), "float"), (pa.float64(), "double"),
    (pa.date32(), "date"), (pa.timestamp("us", tz="UTC"), "timestamp"),
    (pa.decimal128(18, 2), "decimal(18,2)"), (pa.binary(), "binary"),
    (pa.list_(pa.string()), "array<string>"),
    (pa.map_(pa.string(), pa.int64()), "map<string,bigint>"),
    (pa.struct([("a", pa.int32()), ("b", pa.list_(pa.date32()))]),
     "struct<a:int,b:array<date>>"),
])
def test_glue_types(arrow, hive):
    assert hive_type(arrow) == hive


def test_a_type_without_a_glue_name_is_an_error():
    with pytest.raises(ValueError, match="no catalog type"):
        hive_type(pa.duration("s"))


def test_committed_crawler_definitions_match_the_table_definitions():
    """crawlers/crawlers.json is generated (lakehouse crawlers); it must not drift."""
    settings = load_settings(environ={})
    committed = (ROOT / "crawlers" / "crawlers.json").read_text()
    assert committed == crawlers_json(settings), "run: lakehouse crawlers"
    declared = {str(t) for t in declared_tables(settings)}
    crawled = {f"{c['layer']}.{t}" for c in json.loads(committed)["crawlers"]
               for t in c["tables"]}
    assert crawled == declared


def test_an_onboarded_source_is_catalogued_without_code():
    settings = load_settings(environ={})
    extra = settings.sources["transactions"].model_copy(update={"name": "card_feed_eu"})
    onboarded = settings.model_copy(update={"sources": {**settings.sources,
                                                        "card_feed_eu": extra}})
    tables = declared_tables(onboarded)
    assert "card numbers" in tables[TableId("bronze", "card_feed_eu")]
    crawlers = {c["layer"]: c["tables"] for c in crawler_definitions(onboarded)["crawlers"]}
    assert "card_feed_eu" in crawlers["bronze"]
    assert "card numbers" not in declared_tables(settings)[TableId("bronze", "loans")]


def definition(**changes) -> TableDefinition:
    base = TableDefinition("gold", "customer_summary", "One row per customer", "/lake/gold/cs",
                           (Column("customer_key", "string"),
                            Column("cc_num", "string", "PII: pan")), version=3)
    return TableDefinition(**{**base.__dict__, **changes})


@pytest.mark.parametrize("fmt", ["delta", SYMLINK_FORMAT])
def test_table_input_round_trips(fmt):
    original = definition(format=fmt, parameters=(("lakehouse.snapshot_of", "gold.x"),))
    table_input = original.table_input()
    assert TableDefinition.from_table_input("gold", table_input) == original
    glue_answer = {**table_input, "DatabaseName": "gold", "CreateTime": "2024-01-01",
                   "StorageDescriptor": {**table_input["StorageDescriptor"],
                                         "Compressed": False}}
    assert TableDefinition.from_table_input("gold", glue_answer) == original


def test_delta_and_snapshot_table_inputs_differ_where_athena_needs_it():
    delta = definition().table_input()
    assert delta["Parameters"]["table_type"] == "DELTA"
    assert delta["StorageDescriptor"]["SerdeInfo"]["Parameters"]["path"] == "/lake/gold/cs"
    snap = definition(format=SYMLINK_FORMAT).table_input()
    assert "table_type" not in snap["Parameters"]
    assert snap["StorageDescriptor"]["InputFormat"].endswith("SymlinkTextInputFormat")


def test_local_catalog_creates_then_leaves_unchanged_then_updates(tmp_path):
    catalog = LocalCatalog(Lake.at(tmp_path))
    catalog.ensure_database("gold", "Gold")
    assert catalog.put(definition()) == "created"
    path = tmp_path / "_catalog" / "gold" / "customer_summary.json"
    stored = json.loads(path.read_text())
    assert stored["TableInput"] == definition().table_input()
    before = path.stat().st_mtime_ns
    assert catalog.put(definition()) == "unchanged"
    assert path.stat().st_mtime_ns == before, "nothing rewritten"
    assert catalog.put(definition(version=4)) == "updated"
    assert catalog.get("gold", "customer_summary").version == 4
    assert [d.qualified_name for d in catalog.tables()] == ["gold.customer_summary"]
    assert json.loads((tmp_path / "_catalog" / "gold" / "_database.json").read_text()) == \
        {"Name": "gold", "Description": "Gold"}
    catalog.delete("gold", "customer_summary")
    assert catalog.get("gold", "customer_summary") is None and catalog.tables() == []


def test_a_damaged_catalog_entry_is_a_clear_error(tmp_path):
    from lakehouse.catalog.store import CatalogError

    catalog = LocalCatalog(Lake.at(tmp_path))
    (tmp_path / "_catalog" / "gold").mkdir(parents=True)
    (tmp_path / "_catalog" / "gold" / "broken.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"cannot read the catalog entry .*broken\.json"):
        catalog.get("gold", "broken")
