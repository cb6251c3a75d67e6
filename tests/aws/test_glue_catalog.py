"""Registering an S3 lake in the Glue Data Catalog, against moto in server mode: the exact table
input Athena needs for native Delta tables, idempotent updates, and published snapshots."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.catalog.register import publish_snapshot, register_lake
from lakehouse.catalog.store import GlueCatalog
from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.io.lake import TableId
from tests.aws.conftest import client

SUMMARY = pa.table({
    "customer_key": pa.array(["c1", "c2"]),
    "total_spend": pa.array([Decimal("12.50"), Decimal("3.00")], pa.decimal128(18, 2)),
    "txn_count": pa.array([5, 1], pa.int64()),
    "last_txn_ts": pa.array([1_700_000_000_000_000, None], pa.timestamp("us", tz="UTC")),
})


def settings_for(bucket: str, **extra):
    return load_settings(lake_root=f"s3://{bucket}",
                         catalog={"kind": "glue", "database_prefix": "lakehouse_"}, **extra)


def write(bucket: str, table: str, data: pa.Table, mode: str = "append") -> None:
    write_deltalake(f"s3://{bucket}/{table.replace('.', '/')}", data, mode=mode,
                    schema_mode="overwrite" if mode == "overwrite" else None)


def test_register_writes_the_exact_native_delta_table_input(bucket, aws):
    write(bucket, "gold.customer_summary", SUMMARY)
    write(bucket, "bronze.transactions", pa.table({"cc_num": ["x"], "amt": ["1.00"]}))
    settings = settings_for(bucket)
    done = register_lake(settings, GlueCatalog.from_settings(settings))
    assert {(str(r.table), r.action) for r in done} == {("gold.customer_summary", "created"),
                                                         ("bronze.transactions", "created")}

    glue = client("glue", aws)
    table = glue.get_table(DatabaseName="lakehouse_gold", Name="customer_summary")["Table"]
    location = f"s3://{bucket}/gold/customer_summary"
    assert table["Name"] == "customer_summary"
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Description"].startswith("One row per customer")
    assert table["Parameters"] == {
        "EXTERNAL": "TRUE", "table_type": "DELTA", "spark.sql.sources.provider": "delta",
        "classification": "delta", "lakehouse.format": "delta", "lakehouse.version": "0"}
    storage = table["StorageDescriptor"]
    assert storage["Columns"] == [{"Name": "customer_key", "Type": "string"},
                                  {"Name": "total_spend", "Type": "decimal(18,2)"},
                                  {"Name": "txn_count", "Type": "bigint"},
                                  {"Name": "last_txn_ts", "Type": "timestamp"}]
    assert storage["Location"] == location
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert storage["OutputFormat"] == \
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert storage["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1", "path": location}}
    bronze = glue.get_table(DatabaseName="lakehouse_bronze", Name="transactions")["Table"]
    assert bronze["StorageDescriptor"]["Columns"][0] == {"Name": "cc_num", "Type": "string",
                                                         "Comment": "PII: pan"}
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    assert {"lakehouse_gold", "lakehouse_bronze"} <= databases


def test_registering_again_changes_nothing_until_the_table_changes(bucket, aws):
    write(bucket, "gold.customer_summary", SUMMARY)
    settings = settings_for(bucket)
    catalog = GlueCatalog.from_settings(settings)
    register_lake(settings, catalog)
    glue = client("glue", aws)
    versions = lambda: glue.get_table_versions(  # noqa: E731
        DatabaseName="lakehouse_gold", TableName="customer_summary")["TableVersions"]
    before = len(versions())
    assert [r.action for r in register_lake(settings, catalog)] == ["unchanged"]
    assert len(versions()) == before

    wider = SUMMARY.append_column("segment", pa.array(["a", "b"]))
    write(bucket, "gold.customer_summary", wider, mode="overwrite")
    assert [r.action for r in register_lake(settings, catalog)] == ["updated"]
    table = glue.get_table(DatabaseName="lakehouse_gold", Name="customer_summary")["Table"]
    assert table["Parameters"]["lakehouse.version"] == "1"
    assert table["StorageDescriptor"]["Columns"][-1] == {"Name": "segment", "Type": "string"}


def test_snapshot_publishes_a_manifest_of_exactly_that_version(bucket, aws):
    write(bucket, "gold.customer_summary", SUMMARY)
    write(bucket, "gold.customer_summary", SUMMARY.slice(0, 1))
    uri = f"s3://{bucket}/gold/customer_summary"
    first_files = DeltaTable(uri, version=0).file_uris()
    settings = settings_for(bucket)
    definition = publish_snapshot(settings, GlueCatalog.from_settings(settings),
                                  TableId("gold", "customer_summary"), version=0)

    assert definition.name == "customer_summary_v0"
    manifest_key = "_snapshots/gold/customer_summary/v0/manifest"
    body = client("s3", aws).get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
    assert body.decode().splitlines() == first_files
    assert len(DeltaTable(uri).file_uris()) == len(first_files) + 1

    table = client("glue", aws).get_table(DatabaseName="lakehouse_gold",
                                          Name="customer_summary_v0")["Table"]
    storage = table["StorageDescriptor"]
    assert storage["Location"] == f"s3://{bucket}/_snapshots/gold/customer_summary/v0"
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == \
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert table["Parameters"]["lakehouse.snapshot_of"] == "gold.customer_summary"
    assert table["Parameters"]["lakehouse.version"] == "0"
    assert "table_type" not in table["Parameters"]  # a plain Parquet table, not Delta


def test_register_and_snapshot_from_the_command_line(bucket, aws, capsys):
    write(bucket, "gold.fraud_daily", pa.table({"category": ["food"], "txn_count": [3]}))
    lake = ["--lake", f"s3://{bucket}"]
    assert main(["-q", "register", "--catalog", "glue", "--env", "glue", *lake]) == 0
    assert "created   lakehouse_gold.fraud_daily (version 0)" in capsys.readouterr().out
    assert main(["-q", "snapshot", "gold.fraud_daily", "--version", "0", "--catalog", "glue",
                 "--env", "glue", *lake]) == 0
    assert "as lakehouse_gold.fraud_daily_v0" in capsys.readouterr().out
    assert main(["tables", "--env", "glue", *lake]) == 0
    out = capsys.readouterr().out
    assert "lakehouse_gold.fraud_daily " in out and "lakehouse_gold.fraud_daily_v0" in out
    assert main(["snapshot", "gold.fraud_daily", "--version", "7", "--env", "glue", *lake]) == 1
    assert "has no version 7" in capsys.readouterr().err


def test_glue_errors_are_one_line(aws):
    settings = load_settings(lake_root="s3://nowhere", catalog={"kind": "glue"})
    catalog = GlueCatalog.from_settings(settings)
    from lakehouse.catalog.store import CatalogError
    from lakehouse.catalog.tables import TableDefinition

    with pytest.raises(CatalogError, match="Glue create_table failed"):
        catalog.put(TableDefinition("no_such_database", "t", "", "s3://x/t", ()))


def test_vacuum_and_optimize_an_s3_lake_from_the_command_line(bucket, aws, capsys):
    """The maintenance commands on S3 (delta-rs against the moto server): a killed job's
    object goes, a published snapshot's files stay, the Glue tables follow the new versions."""
    write(bucket, "gold.customer_summary", SUMMARY)
    write(bucket, "gold.customer_summary", SUMMARY.slice(0, 1), mode="overwrite")
    uri = f"s3://{bucket}/gold/customer_summary"
    kept = DeltaTable(uri, version=0).file_uris()
    replaced_by = DeltaTable(uri).file_uris()
    s3 = client("s3", aws)
    orphan = "gold/customer_summary/20260101T000000-0123456789ab/part-00000.parquet"
    s3.put_object(Bucket=bucket, Key=orphan, Body=b"PAR1 not committed")
    lake = ["--env", "glue", "--lake", f"s3://{bucket}"]
    assert main(["-q", "snapshot", "gold.customer_summary", "--version", "0", *lake]) == 0

    assert main(["-q", "vacuum", "--all", "--retain-hours", "0", "--force", *lake]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("removed 1 data file(s)")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert orphan not in keys
    assert all(f.split(f"{bucket}/", 1)[1] in keys for f in kept + replaced_by)
    table = client("glue", aws).get_table(DatabaseName="lakehouse_gold",
                                          Name="customer_summary")["Table"]
    assert table["Parameters"]["lakehouse.version"] == "3"  # VACUUM START and END

    write(bucket, "gold.customer_summary", SUMMARY.slice(1, 1))
    assert main(["-q", "optimize", "gold.customer_summary", *lake]) == 0
    assert "compacted 2 file(s) into 1 in 1 of 1 table(s)" in capsys.readouterr().out
    assert DeltaTable(uri).to_pyarrow_table().num_rows == 2
    assert len(DeltaTable(uri).file_uris()) == 1
