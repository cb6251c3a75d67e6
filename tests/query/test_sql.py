"""The Athena -> DuckDB translation of the functions analysts use (no lake needed): each
expression gives DuckDB the same answer Athena documents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from lakehouse.engines.sql import Query, QueryError


def duck(sql: str, **params):
    return duckdb.sql(Query(sql, params).sql("duckdb")).fetchall()[0][0]


@pytest.mark.parametrize(("athena", "expected"), [
    # used by sql/
    ("SELECT date_format(TIMESTAMP '2024-03-05 10:00:00', '%Y-%m')", "2024-03"),
    ("SELECT count_if(x > 1) FROM (VALUES 1, 2, 3) AS t(x)", 2),
    ("SELECT substr('4000123412341234', -4)", "1234"),
    ("SELECT concat('card:', 'abc')", "card:abc"),
    ("SELECT round(CAST(1 AS double) / 3, 4)", 0.3333),
    ("SELECT coalesce(NULL, 'unknown')", "unknown"),
    # common in analysts' Athena SQL
    # Athena (Trino) keeps the argument's type: a date in, a date out
    ("SELECT date_trunc('month', DATE '2024-03-05')", date(2024, 3, 1)),
    ("SELECT date_trunc('month', TIMESTAMP '2024-03-05 10:00:00')", datetime(2024, 3, 1)),
    ("SELECT date_add('day', 3, DATE '2024-03-05')", datetime(2024, 3, 8)),
    ("SELECT date_diff('day', DATE '2024-03-01', DATE '2024-03-05')", 4),
    ("SELECT approx_distinct(x) FROM (VALUES 1, 2, 2) AS t(x)", 2),
    ("SELECT regexp_like('merchant_x', 'chant')", True),
    ("SELECT element_at(ARRAY[10, 20, 30], 2)", 20),
    ("SELECT cardinality(ARRAY[1, 2, 3])", 3),
    ("SELECT day_of_week(DATE '2024-03-05')", 2),
    ("SELECT try_cast('x' AS integer)", None),
    ("SELECT max_by(x, y) FROM (VALUES (1, 2), (3, 1)) AS t(x, y)", 1),
    ("SELECT arbitrary(x) FROM (VALUES 7) AS t(x)", 7),
    ("SELECT to_unixtime(TIMESTAMP '2024-03-05 10:00:00')", 1709632800.0),
    ("SELECT json_extract_scalar('{\"a\": \"1\"}', '$.a')", "1"),
])
def test_athena_functions_translate(athena, expected):
    assert duck(athena) == expected


def test_parameters_bind_as_typed_literals():
    assert duck("SELECT :d", d=date(2024, 1, 31)) == date(2024, 1, 31)
    assert duck("SELECT :t", t=datetime(2024, 1, 31, 8, 30)) == datetime(2024, 1, 31, 8, 30)
    assert duck("SELECT :n + 1", n=Decimal("1.50")) == Decimal("2.50")
    assert duck("SELECT :s", s="O'Brien") == "O'Brien"  # quoted, not injected
    assert duck("SELECT :b", b=True) is True
    assert duck("SELECT :x IS NULL", x=None) is True


def test_time_travel_clauses_are_read_from_the_sql():
    query = Query("SELECT * FROM gold.a FOR VERSION AS OF 3 JOIN silver.b FOR TIMESTAMP AS OF "
                  "TIMESTAMP '2024-01-01 00:00:00' ON 1 = 1 JOIN ops.c ON 1 = 1")
    moments = {str(ref.table): ref.moment for ref in query.tables(as_of=7)}
    assert moments == {"gold.a": 3, "silver.b": "2024-01-01 00:00:00", "ops.c": 7}


@pytest.mark.parametrize("sql", [
    "SELECT 1",
    "SELECT * FROM gold.a FOR VERSION AS OF 3",
    "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
])
def test_an_as_of_that_applies_to_no_table_is_an_error_not_ignored(sql):
    with pytest.raises(QueryError, match=r"^--as-of 2024-01-01 applies to no table here: the "
                       r"query reads no lake table without its own FOR \.\.\. AS OF$"):
        list(Query(sql).tables(as_of="2024-01-01"))
    list(Query(sql).tables())  # without --as-of: fine


def test_cte_names_are_not_tables():
    query = Query("WITH x AS (SELECT 1 AS a FROM gold.t) SELECT * FROM x")
    assert [str(ref.table) for ref in query.tables()] == ["gold.t"]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 1; SELECT 2", "expected one SQL statement, found 2"),
    ("INSERT INTO gold.t VALUES (1)", "only SELECT queries can be run, not INSERT"),
    ("SELECT * FROM gold.t FOR VERSION AS OF 'x'", "not a table version"),
])
def test_bad_queries_are_named(sql, message):
    with pytest.raises(QueryError, match=message):
        list(Query(sql).tables())
