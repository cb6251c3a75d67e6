"""The local SQL engine: Athena (Trino) SQL, translated by sqlglot, run by DuckDB over the Delta
tables' snapshots - no JVM.

Tables are named ``<layer>.<table>`` as in the Glue catalog. ``FOR VERSION AS OF n`` and
``FOR TIMESTAMP AS OF TIMESTAMP '...'`` read that snapshot (Athena itself cannot time-travel
Delta tables; see ``lakehouse snapshot``); ``as_of`` applies to every table without its own.
Named parameters are written ``:name`` and bound as literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakehouse.engines.sql import Moment, Param, Query, QueryError
from lakehouse.errors import TableNotFoundError
from lakehouse.io.delta import snapshot
from lakehouse.io.lake import LAYERS, Lake, TableId

__all__ = ["LocalEngine", "Param", "QueryError"]


class LocalEngine:
    """DuckDB over the lake's Delta snapshots; one engine can run many queries."""

    def __init__(self, lake: Lake, database_prefix: str = "") -> None:
        import duckdb

        self.lake = lake
        self.database_prefix = database_prefix
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        for layer in LAYERS:
            self.db.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
        self._views: dict[tuple[str, int], str] = {}
        self._functions: set[str] | None = None

    def _published(self, table: TableId, moment: Moment) -> tuple[int, list[str]]:
        """A snapshot published with ``lakehouse snapshot``: a catalog table over a manifest."""
        from lakehouse.catalog.register import manifest_files
        from lakehouse.catalog.store import LocalCatalog
        from lakehouse.catalog.tables import SYMLINK_FORMAT

        definition = LocalCatalog(self.lake).get(f"{self.database_prefix}{table.layer}",
                                                 table.name)
        if definition is None or definition.format != SYMLINK_FORMAT:
            raise TableNotFoundError(f"table {table} does not exist in {self.lake.root}")
        if moment is not None:
            raise QueryError(f"{table} is a published snapshot (version {definition.version}); "
                             "it has no other versions to travel to")
        return definition.version or 0, manifest_files(self.lake, definition)

    def _view(self, table: TableId, moment: Moment) -> str:
        """A DuckDB view over one snapshot (created once per engine)."""
        try:
            if isinstance(moment, int):
                snap = snapshot(self.lake, table, version=moment)
            else:
                snap = snapshot(self.lake, table, as_of=moment)
            version, files, schema = snap.version, list(snap.files), snap.schema
        except TableNotFoundError:
            (version, files), schema = self._published(table, moment), None
        key = (str(table), version)
        if key not in self._views:
            name = f"{table.name}@v{version}"
            quoted = f'"{table.layer}"."{name}"'
            if files:
                files_sql = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                self.db.execute(f"CREATE VIEW {quoted} AS SELECT * FROM "
                                f"read_parquet([{files_sql}], union_by_name = true)")
            else:
                import pyarrow as pa

                empty = pa.Table.from_batches([], schema=schema or pa.schema([]))
                self.db.register(f"_empty_{table.layer}_{name}", empty)
                self.db.execute(f"CREATE VIEW {quoted} AS SELECT * FROM "
                                f'"_empty_{table.layer}_{name}"')
            self._views[key] = name
        return self._views[key]

    def translate(self, sql: str, params: Mapping[str, Param] | None = None,
                  as_of: Moment = None) -> str:
        """Athena SQL -> DuckDB SQL over pinned snapshot views."""
        query = Query(sql, params)
        for ref in query.tables(as_of):
            try:
                name = self._view(ref.table, ref.moment)
            except TableNotFoundError:
                raise QueryError(f"table {ref.table} does not exist in {self.lake.root} "
                                 "(run 'lakehouse run' first)") from None
            ref.rename(ref.table.layer, name)
        self._check_functions(query)
        return query.sql("duckdb")

    def _check_functions(self, query: Query) -> None:
        """A function DuckDB lacks (one sqlglot passes through by name) is a named error
        before anything runs, not a catalog error halfway through."""
        from sqlglot import exp

        if self._functions is None:
            rows = self.db.execute("SELECT DISTINCT lower(function_name) FROM "
                                   "duckdb_functions()").fetchall()
            self._functions = {r[0] for r in rows}
        for node in query.tree.find_all(exp.Anonymous):
            if str(node.name).lower() not in self._functions:
                raise QueryError(f"not supported by the local engine: function "
                                 f"{node.name}() has no DuckDB equivalent (it runs on Athena: "
                                 "--engine athena)")

    def _execute(self, sql: str, params: Mapping[str, Param] | None,
                 as_of: Moment) -> Any:
        import duckdb

        translated = self.translate(sql, params, as_of)
        try:
            return self.db.execute(translated)
        except duckdb.ParserException as exc:
            raise QueryError("not supported by the local engine: "
                             f"{str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None

    def query(self, sql: str, params: Mapping[str, Param] | None = None,
              as_of: Moment = None) -> Any:
        """Run a query; returns a pandas DataFrame."""
        return self._execute(sql, params, as_of).df()

    def rows(self, sql: str, params: Mapping[str, Param] | None = None,
             as_of: Moment = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query; column names and rows of Python values (ints stay ints, decimals exact)."""
        cursor = self._execute(sql, params, as_of)
        headers = [d[0] for d in cursor.description]
        return headers, cursor.fetchall()
