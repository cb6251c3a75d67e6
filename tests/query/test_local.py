"""Every report in sql/ runs on the local engine and returns the right rows; time travel reads
the earlier snapshot; mistakes are one clear error."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

import lakehouse
from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.engines.local import LocalEngine, QueryError
from lakehouse.io.lake import Lake, TableId
from lakehouse.pipeline.workflow import run_workflow
from tests.lakes import workflow_lake

pytestmark = pytest.mark.integration
SQL = Path(__file__).resolve().parents[2] / "sql"


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A generated lake with two Gold versions: before and after a late file."""
    root = tmp_path_factory.mktemp("query")
    settings, _ = workflow_lake(spark, root, customers=30, months=1, seed=5, defect_rate=0.0)
    first = native(Lake.at(settings.lake_root), "gold.customer_summary")
    late = root / "landing" / "transactions" / "late.csv"
    source = sorted((root / "landing" / "transactions").rglob("*.csv"))[0]
    header, line = source.read_text().splitlines()[:2]
    fields = line.split(",")
    fields[-5] = "e" * 32  # a new transaction id
    late.write_text(header + "\n" + ",".join(fields) + "\n")
    run_workflow(settings, spark=spark)
    return {"lake": Lake.at(settings.lake_root), "first_summary": first}


def native(lake: Lake, name: str, version: int | None = None) -> pd.DataFrame:
    """A table read straight through delta-rs: the independent path the engine is checked by."""
    return DeltaTable(lake.uri(TableId.parse(name)), version=version).to_pandas()


def run(lake, name: str, **params):
    engine = LocalEngine(lake["lake"])
    return engine.query((SQL / name).read_text(), params)


def test_every_sql_file_is_tested():
    tested = {"top_customers_by_spend.sql", "monthly_spend_by_category.sql",
              "fraud_rate_by_category_and_day.sql", "reward_points_leaderboard.sql",
              "loan_default_rate_by_segment.sql", "customer_lookup_by_masked_card.sql",
              "time_travel_version.sql", "time_travel_timestamp.sql", "time_travel_diff.sql"}
    assert {p.name for p in SQL.glob("*.sql")} == tested


def test_top_customers_by_spend(lake):
    got = run(lake, "top_customers_by_spend.sql", top=5)
    summary = native(lake["lake"], "gold.customer_summary")
    expected = (summary[summary.txn_count > 0]
                .sort_values(["total_spend", "customer_key"], ascending=[False, True]).head(5))
    assert list(got.customer_key) == list(expected.customer_key)
    assert [Decimal(str(v)) for v in got.total_spend] == list(expected.total_spend)


def test_monthly_spend_by_category(lake):
    got = run(lake, "monthly_spend_by_category.sql")
    monthly = native(lake["lake"], "gold.customer_monthly_spend")
    expected = monthly.groupby("category")["spend"].sum()
    assert set(got.month) == {"2024-01"}
    for row in got.itertuples():
        assert Decimal(str(row.spend)) == expected[row.category]
    assert got.share_pct.sum() == pytest.approx(100, abs=0.1)


def test_fraud_rate_by_category_and_day(lake):
    got = run(lake, "fraud_rate_by_category_and_day.sql", min_transactions=5)
    fraud = native(lake["lake"], "gold.fraud_daily")
    grouped = fraud.groupby(["trans_date", "category"]).agg(n=("txn_count", "sum"),
                                                             f=("fraud_count", "sum"))
    grouped = grouped[grouped.n >= 5]
    assert len(got) == len(grouped)
    for row in got.head(10).itertuples():
        expected = grouped.loc[(row.trans_date.date() if hasattr(row.trans_date, "date")
                                else row.trans_date, row.category)]
        assert row.transactions == expected.n
        assert row.fraud_rate == pytest.approx(round(expected.f / expected.n, 4))
    assert list(got.fraud_rate) == sorted(got.fraud_rate, reverse=True)


def test_reward_points_leaderboard(lake):
    got = run(lake, "reward_points_leaderboard.sql")
    summary = native(lake["lake"], "gold.customer_summary")
    expected = summary[summary.reward_points > 0].sort_values(
        ["reward_points", "customer_key"], ascending=[False, True]).head(20)
    assert list(got.customer_key) == list(expected.customer_key)
    assert list(got["rank"]) == sorted(got["rank"]) and got["rank"].iloc[0] == 1


def test_loan_default_rate_by_segment(lake):
    got = run(lake, "loan_default_rate_by_segment.sql")
    loans = native(lake["lake"], "gold.loan_default_features")
    assert got.loans.sum() == len(loans)
    assert got.defaulted.sum() == loans.defaulted.sum()
    for row in got.itertuples():
        assert 0 <= row.default_rate <= 1


def test_customer_lookup_by_masked_card(lake):
    tx = native(lake["lake"], "silver.transactions")
    card = tx.card_masked.iloc[0]
    got = run(lake, "customer_lookup_by_masked_card.sql", last4=card[-4:])
    assert card in set(got.card_masked)
    assert all(m.endswith(card[-4:]) and set(m[:-4]) == {"*"} for m in got.card_masked)
    owner = tx[tx.card_masked == card].card_token.iloc[0]
    summary = native(lake["lake"], "gold.customer_summary")
    assert set(got.customer_key) & set(summary.customer_key)
    assert len(tx[tx.card_token == owner]) in set(got.txn_count)


def test_time_travel_by_version_reads_the_first_build(lake):
    got = run(lake, "time_travel_version.sql")
    first = lake["first_summary"]
    assert int(got.customers[0]) == len(first)
    assert int(got.transactions[0]) == int(first.txn_count.sum())
    current = native(lake["lake"], "gold.customer_summary")
    assert int(current.txn_count.sum()) == int(first.txn_count.sum()) + 1, "the late file"


def test_time_travel_diff_shows_the_changed_customer(lake):
    got = run(lake, "time_travel_diff.sql")
    assert len(got) == 1 and got.change[0] in ("changed", "added")


def test_time_travel_by_timestamp_and_as_of(lake):
    got = run(lake, "time_travel_timestamp.sql")
    assert int(got.transactions[0]) == len(native(lake["lake"], "silver.transactions"))
    engine = LocalEngine(lake["lake"])
    sql = "SELECT sum(txn_count) AS n FROM gold.customer_summary"
    assert int(engine.query(sql, as_of=0).n[0]) == int(lake["first_summary"].txn_count.sum())
    with pytest.raises(Exception, match="no version at or before 2000-01-01"):
        engine.query(sql, as_of="2000-01-01T00:00:00Z")


def test_python_api_reads_tables_and_versions(lake):
    current = lakehouse.read_table("gold.customer_summary", lake=lake["lake"].root)
    first = lakehouse.read_table("gold.customer_summary", version=0, lake=lake["lake"].root)
    assert len(first) == len(lake["first_summary"])
    assert int(current.txn_count.sum()) == int(first.txn_count.sum()) + 1
    n = lakehouse.query("SELECT count(*) AS n FROM silver.loans", lake=lake["lake"].root)
    assert int(n.n[0]) == len(native(lake["lake"], "silver.loans"))


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM customer_summary", "name tables <layer>.<table>"),
    ("SELECT * FROM gold.nope", "gold.nope does not exist"),
    ("DELETE FROM gold.fraud_daily", "only SELECT queries can be run, not DELETE"),
    ("SELECT * FROM gold.fraud_daily WHERE state = :state", "missing parameter :state"),
    ("SELECT * FROM gold.fraud_daily WHERE state = ?", "positional parameters"),
    ("SELECT * FROM gold.fraud_daily FOR VERSION AS OF 99", "has no version 99"),
    ("SELECT FROM WHERE", "cannot parse the SQL"),
])
def test_mistakes_are_clear_errors(lake, sql, message):
    with pytest.raises(Exception, match=message) as caught:
        LocalEngine(lake["lake"]).query(sql)
    assert isinstance(caught.value, QueryError | lakehouse.errors.LakehouseError)


def test_command_line_formats(lake, capsys):
    args = ["query", "-e", "SELECT category, sum(txn_count) AS n FROM gold.fraud_daily "
            "GROUP BY 1 ORDER BY 1", "--lake", lake["lake"].root]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    fraud = native(lake["lake"], "gold.fraud_daily")
    assert {r["category"]: r["n"] for r in rows} == \
        {k: int(v) for k, v in fraud.groupby("category").txn_count.sum().items()}
    assert main([*args, "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "category,n" and len(out) == len(rows) + 1
    assert main(["query", str(SQL / "top_customers_by_spend.sql"), "--param", "top=2",
                 "--lake", lake["lake"].root]) == 0
    assert capsys.readouterr().out.strip().endswith("(2 rows)")
    assert main(["query", "--lake", lake["lake"].root]) == 1


def test_every_run_registers_every_table_in_the_local_catalog(lake):
    from lakehouse.catalog.store import LocalCatalog
    from lakehouse.catalog.tables import declared_tables

    settings = load_settings(lake_root=lake["lake"].root, environ={})
    registered = {d.qualified_name: d for d in LocalCatalog(lake["lake"]).tables()}
    in_lake = {str(t) for t in lake["lake"].list_tables()}
    assert set(registered) == in_lake
    assert in_lake == {str(t) for t in declared_tables(settings)}, "declared = written"
    summary = registered["gold.customer_summary"]
    assert summary.version == DeltaTable(summary.location).version() == 1
    assert summary.location == lake["lake"].uri(TableId("gold", "customer_summary"))
    assert [c.name for c in summary.columns] == list(native(lake["lake"],
                                                            "gold.customer_summary").columns)
    assert all(d.description for d in registered.values())


def test_a_published_snapshot_holds_exactly_that_versions_rows(lake, capsys):
    root = lake["lake"].root
    assert main(["-q", "snapshot", "gold.customer_summary", "--version", "0",
                 "--lake", root]) == 0
    assert "as gold.customer_summary_v0" in capsys.readouterr().out
    engine = LocalEngine(lake["lake"])
    headers, rows = engine.rows("SELECT * FROM gold.customer_summary_v0 ORDER BY customer_key")
    published = [dict(zip(headers, row, strict=True)) for row in rows]
    version_0 = DeltaTable(lake["lake"].uri(TableId("gold", "customer_summary")), version=0)
    assert published == version_0.to_pyarrow_table().sort_by("customer_key").to_pylist()
    current = engine.query("SELECT sum(txn_count) AS n FROM gold.customer_summary")
    assert int(current.n[0]) == sum(r["txn_count"] for r in published) + 1
    with pytest.raises(QueryError, match="published snapshot"):
        engine.query("SELECT * FROM gold.customer_summary_v0 FOR VERSION AS OF 1")
    assert main(["tables", "--lake", root]) == 0
    assert "gold.customer_summary_v0" in capsys.readouterr().out
    # --as-of resolves to the version current at that time: the latest one here
    assert main(["-q", "snapshot", "gold.customer_summary", "--as-of", "2999-01-01T00:00:00Z",
                 "--lake", root]) == 0
    assert "version 1 as gold.customer_summary_v1" in capsys.readouterr().out
    assert main(["snapshot", "gold.customer_summary", "--lake", root]) == 1
    assert "give --version N or --as-of" in capsys.readouterr().err


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT format_datetime(max(trans_date), 'yyyy') FROM gold.fraud_daily",
     "function format_datetime\\(\\) has no DuckDB equivalent"),
    ("SELECT x FROM (VALUES 1) t(x) MATCH_RECOGNIZE (ORDER BY x MEASURES A.x AS y "
     "PATTERN (A) DEFINE A AS true)", "not supported by the local engine: .*MATCH_RECOGNIZE"),
])
def test_unsupported_sql_names_the_construct(lake, sql, message):
    with pytest.raises(QueryError, match=message):
        LocalEngine(lake["lake"]).query(sql)


def test_a_vacuumed_version_is_a_clear_error_not_a_missing_file(tmp_path, capsys):
    """A vacuum leaves an old version's log entry but removes its files: time travel to it, and
    publishing it as a snapshot, say so (it was DuckDB's 'No files found', as unexpected)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    uri = str(tmp_path / "lake" / "gold" / "things")
    write_deltalake(uri, pa.table({"id": ["a"]}))
    write_deltalake(uri, pa.table({"id": ["b", "c"]}), mode="overwrite")
    DeltaTable(uri).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    lake = ["--lake", str(tmp_path / "lake")]
    assert main(["query", "-e", "SELECT count(*) AS n FROM gold.things", *lake]) == 0
    assert main(["query", "-e", "SELECT count(*) FROM gold.things FOR VERSION AS OF 0",
                 *lake]) == 1
    assert main(["snapshot", "gold.things", "--version", "0", *lake]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["lakehouse: gold.things version 0 can no longer be read: 1 of its 1 data "
                   "file(s) were removed by a vacuum; read a later version ('lakehouse history "
                   "gold.things' lists them)"] * 2
