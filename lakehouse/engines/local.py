"""The local SQL engine: Athena (Trino) SQL, translated by sqlglot, run by DuckDB over the Delta
tables' snapshots - no JVM.

Tables are named ``<layer>.<table>`` as in the Glue catalog. ``FOR VERSION AS OF n`` and
``FOR TIMESTAMP AS OF TIMESTAMP '...'`` read that snapshot (Athena itself cannot time-travel
Delta tables; see ``lakehouse snapshot``); ``as_of`` applies to every table without its own.
Named parameters are written ``:name`` and bound as literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from lakehouse.errors import LakehouseError, TableNotFoundError
from lakehouse.io.delta import snapshot
from lakehouse.io.lake import LAYERS, Lake, TableId

Param = str | int | float | Decimal | date | datetime | bool | None


class QueryError(LakehouseError):
    """The SQL cannot be run: parse error, unsupported construct, unknown table, bad parameter."""


def _literal(value: Param) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")),
                        to=exp.DataType.build("timestamp"))
    if isinstance(value, date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()),
                        to=exp.DataType.build("date"))
    return exp.Literal.string(str(value))


def _moment(version: exp.Expression) -> int | str:
    """``FOR VERSION AS OF 3`` -> 3; ``FOR TIMESTAMP AS OF TIMESTAMP '...'`` -> the text."""
    literal = version.find(exp.Literal)
    if literal is None:
        raise QueryError(f"time travel needs a literal version or timestamp: {version.sql()}")
    kind = str(version.args.get("this", "")).upper()
    if kind == "VERSION":
        try:
            return int(literal.this)
        except ValueError:
            raise QueryError(f"not a table version: {literal.this!r}") from None
    return str(literal.this)


class LocalEngine:
    """DuckDB over the lake's Delta snapshots; one engine can run many queries."""

    def __init__(self, lake: Lake) -> None:
        import duckdb

        self.lake = lake
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        for layer in LAYERS:
            self.db.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
        self._views: dict[tuple[str, int], str] = {}

    def _view(self, table: TableId, moment: int | str | None) -> str:
        """A DuckDB view over one snapshot (created once per engine)."""
        if isinstance(moment, int):
            snap = snapshot(self.lake, table, version=moment)
        else:
            snap = snapshot(self.lake, table, as_of=moment)
        key = (str(table), snap.version)
        if key not in self._views:
            name = f"{table.name}@v{snap.version}"
            quoted = f'"{table.layer}"."{name}"'
            if snap.files:
                files = ", ".join("'" + f.replace("'", "''") + "'" for f in snap.files)
                self.db.execute(f"CREATE VIEW {quoted} AS SELECT * FROM read_parquet([{files}], "
                                "union_by_name = true)")
            else:
                import pyarrow as pa

                empty = pa.Table.from_batches([], schema=snap.schema)
                self.db.register(f"_empty_{table.layer}_{name}", empty)
                self.db.execute(f"CREATE VIEW {quoted} AS SELECT * FROM "
                                f'"_empty_{table.layer}_{name}"')
            self._views[key] = name
        return self._views[key]

    def translate(self, sql: str, params: Mapping[str, Param] | None = None,
                  as_of: int | str | None = None) -> str:
        """Athena SQL -> DuckDB SQL over pinned snapshot views."""
        try:
            statements = sqlglot.parse(sql, read="athena")
        except ParseError as exc:
            raise QueryError(f"cannot parse the SQL: {str(exc).splitlines()[0]}") from None
        statements = [s for s in statements if s is not None]
        if len(statements) != 1:
            raise QueryError(f"expected one SQL statement, found {len(statements)}")
        tree = statements[0]
        if not isinstance(tree, exp.Query):
            kind = tree.key.upper() if isinstance(tree, exp.DML | exp.DDL) else "this"
            raise QueryError(f"only SELECT queries can be run, not {kind}: "
                             f"{' '.join(sql.split())[:80]!r}")
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            if not table.db and table.name in ctes:
                continue
            if table.db not in LAYERS:
                raise QueryError(f"unknown table {table.sql(dialect='athena')!r}: name tables "
                                 f"<layer>.<table>, e.g. gold.customer_summary")
            table_id = TableId(table.db, table.name)
            version = table.args.get("version")
            moment = _moment(version) if version is not None else as_of
            try:
                name = self._view(table_id, moment)
            except TableNotFoundError:
                raise QueryError(f"table {table_id} does not exist in {self.lake.root} "
                                 "(run 'lakehouse run' first)") from None
            table.set("version", None)
            table.set("this", exp.to_identifier(name, quoted=True))
            table.set("db", exp.to_identifier(table_id.layer, quoted=True))
        supplied = dict(params or {})
        for placeholder in list(tree.find_all(exp.Placeholder)):
            name = placeholder.name
            if not name or name == "?":
                raise QueryError("positional parameters (?) are not supported: use :name")
            if name not in supplied:
                raise QueryError(f"missing parameter :{name} (pass --param {name}=VALUE)")
            placeholder.replace(_literal(supplied[name]))
        try:
            return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise QueryError(f"not supported by the local engine: {exc}") from None

    def _execute(self, sql: str, params: Mapping[str, Param] | None,
                 as_of: int | str | None) -> Any:
        import duckdb

        translated = self.translate(sql, params, as_of)
        try:
            return self.db.execute(translated)
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None

    def query(self, sql: str, params: Mapping[str, Param] | None = None,
              as_of: int | str | None = None) -> Any:
        """Run a query; returns a pandas DataFrame."""
        return self._execute(sql, params, as_of).df()

    def rows(self, sql: str, params: Mapping[str, Param] | None = None,
             as_of: int | str | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query; column names and rows of Python values (ints stay ints, decimals exact)."""
        cursor = self._execute(sql, params, as_of)
        headers = [d[0] for d in cursor.description]
        return headers, cursor.fetchall()
