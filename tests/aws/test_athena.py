"""The Athena engine against moto in server mode: the exact query calls (SQL as Athena receives
it, workgroup, result location), result parsing, and time travel through published snapshots."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from lakehouse.catalog.store import GlueCatalog
from lakehouse.catalog.tables import SYMLINK_FORMAT, Column, TableDefinition
from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.engines import engine_for
from lakehouse.engines.athena import AthenaEngine
from lakehouse.engines.sql import QueryError
from tests.aws.conftest import REGION, client

SQL = Path(__file__).resolve().parents[2] / "sql"


@pytest.fixture
def athena(aws, bucket):
    """Settings for the Athena engine: a workgroup, a results bucket, a Glue database."""
    workgroup = f"wg-{bucket}"
    client("athena", aws).create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {
            "OutputLocation": f"s3://{bucket}/results/"}})
    settings = load_settings(lake_root=f"s3://{bucket}",
                             catalog={"kind": "glue", "database_prefix": "lakehouse_"},
                             athena={"engine": "athena", "workgroup": workgroup,
                                     "output_location": f"s3://{bucket}/results/",
                                     "poll_interval_s": 0.05})
    client("glue", aws).create_database(DatabaseInput={"Name": "lakehouse_gold"})
    return settings


def queue_result(endpoint: str, columns: list[str], rows: list[list[str]]) -> None:
    """What moto's Athena answers to the next query (it does not run SQL)."""
    body = {"region": REGION, "results": [{
        "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in [columns, *rows]],
        "column_info": [{"CatalogName": "AwsDataCatalog", "SchemaName": "", "TableName": "",
                         "Name": c, "Label": c, "Type": "varchar", "Precision": 0,
                         "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
                        for c in columns]}]}
    request = urllib.request.Request(f"{endpoint}/moto-api/static/athena/query-results",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10)


def executions(endpoint: str, workgroup: str) -> list[dict]:
    athena = client("athena", endpoint)
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_engine_is_chosen_by_configuration(athena):
    assert isinstance(engine_for(athena), AthenaEngine)
    assert type(engine_for(athena, "local")).__name__ == "LocalEngine"


def test_a_report_runs_on_athena_with_the_exact_call(athena, aws):
    queue_result(aws, ["customer_key", "total_spend"], [["c7", "120.50"], ["c2", "99.00"]])
    engine = AthenaEngine(athena)
    sql = (SQL / "top_customers_by_spend.sql").read_text()
    headers, rows = engine.rows(sql, {"top": 2})

    assert headers == ["customer_key", "total_spend"]
    assert rows == [("c7", "120.50"), ("c2", "99.00")]
    [call] = executions(aws, athena.athena.workgroup)
    assert call["WorkGroup"] == athena.athena.workgroup
    output = call["ResultConfiguration"]["OutputLocation"]
    assert output.startswith(athena.athena.output_location) and output.endswith(".csv")
    assert call["Query"] == (
        "/* Top customers by total card spend, with their segment and fraud exposure. */ "
        "/* Parameters: :top (how many customers) */ "
        "SELECT customer_key, customer_id, txn_count, total_spend, avg_spend, top_category, "
        'rfm_segment, fraud_count FROM "lakehouse_gold"."customer_summary" WHERE txn_count > 0 '
        "ORDER BY total_spend DESC, customer_key LIMIT 2")


def test_every_report_translates_for_athena(athena):
    engine = AthenaEngine(athena, catalog=GlueCatalog.from_settings(athena))
    for path in sorted(SQL.glob("*.sql")):
        text = path.read_text()
        if "AS OF" in text:
            continue  # needs a published snapshot; covered below
        translated = engine.translate(text, {"top": 5, "min_transactions": 1, "last4": "1234"})
        assert '"lakehouse_' in translated, path.name
        for layer in ("gold.", "silver."):
            assert f" {layer}" not in translated, (path.name, translated)


def test_time_travel_needs_a_published_snapshot(athena, aws):
    engine = AthenaEngine(athena)
    sql = (SQL / "time_travel_version.sql").read_text()
    with pytest.raises(QueryError, match=r"lakehouse snapshot gold\.customer_summary --version 0"):
        engine.translate(sql)

    GlueCatalog.from_settings(athena).put(TableDefinition(
        "lakehouse_gold", "customer_summary_v0", "snapshot", "s3://x/_snapshots/v0",
        (Column("customers", "bigint"),), format=SYMLINK_FORMAT, version=0))
    queue_result(aws, ["customers", "transactions", "spend"], [["3", "10", "55.00"]])
    frame = engine.query(sql)
    assert frame.to_dict("records") == [{"customers": "3", "transactions": "10",
                                         "spend": "55.00"}]
    [call] = executions(aws, athena.athena.workgroup)
    assert 'FROM "lakehouse_gold"."customer_summary_v0"' in call["Query"]
    assert "FOR VERSION" not in call["Query"]


def test_query_command_on_athena(athena, aws, capsys, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ATHENA_WORKGROUP", athena.athena.workgroup)
    monkeypatch.setenv("LAKEHOUSE_ATHENA_OUTPUT", athena.athena.output_location)
    queue_result(aws, ["category", "n"], [["food", "3"]])
    assert main(["query", "-e", "SELECT category, count(*) AS n FROM gold.fraud_daily "
                 "GROUP BY 1", "--engine", "athena", "--env", "glue", "--format", "json",
                 "--lake", athena.lake_root]) == 0
    assert json.loads(capsys.readouterr().out) == [{"category": "food", "n": "3"}]
    [call] = executions(aws, athena.athena.workgroup)
    assert call["Query"] == ('SELECT category, COUNT(*) AS n FROM "lakehouse_gold"."fraud_daily" '
                             "GROUP BY 1")


def test_athena_failures_are_one_line(athena, aws, monkeypatch):
    engine = AthenaEngine(athena)
    with pytest.raises(QueryError, match="only SELECT"):
        engine.rows("DROP TABLE gold.customer_summary")
    assert executions(aws, athena.athena.workgroup) == []
