"""What both query engines share: Athena SQL parsed once by sqlglot, checked (one SELECT, tables
named ``<layer>.<table>``), its ``:name`` parameters bound as literals, and its table references
with any time-travel clause (``FOR VERSION AS OF n``, ``FOR TIMESTAMP AS OF TIMESTAMP '...'``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from lakehouse.errors import LakehouseError
from lakehouse.io.lake import LAYERS, TableId

Param = str | int | float | Decimal | date | datetime | bool | None
Moment = int | str | None  # a table version, a timestamp (text), or the current version


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


@dataclass
class TableRef:
    """One table in a query: its node in the tree, its name and the moment to read."""

    node: exp.Table
    table: TableId
    moment: Moment

    def rename(self, database: str, name: str) -> None:
        """Point the reference at another table and drop its time-travel clause."""
        self.node.set("version", None)
        self.node.set("this", exp.to_identifier(name, quoted=True))
        self.node.set("db", exp.to_identifier(database, quoted=True))


class Query:
    """A parsed, checked, parameter-bound Athena query."""

    def __init__(self, sql: str, params: Mapping[str, Param] | None = None) -> None:
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
        self.tree = tree
        self._bind(dict(params or {}))

    def _bind(self, supplied: dict[str, Param]) -> None:
        for placeholder in list(self.tree.find_all(exp.Placeholder)):
            name = placeholder.name
            if not name or name == "?":
                raise QueryError("positional parameters (?) are not supported: use :name")
            if name not in supplied:
                raise QueryError(f"missing parameter :{name} (pass --param {name}=VALUE)")
            placeholder.replace(_literal(supplied[name]))

    def tables(self, as_of: Moment = None) -> Iterator[TableRef]:
        """The lake tables the query reads (CTE names excluded); ``as_of`` applies to every
        table without its own time-travel clause."""
        ctes = {cte.alias_or_name for cte in self.tree.find_all(exp.CTE)}
        applied = False
        for table in list(self.tree.find_all(exp.Table)):
            if not table.db and table.name in ctes:
                continue
            if table.db not in LAYERS:
                raise QueryError(f"unknown table {table.sql(dialect='athena')!r}: name tables "
                                 f"<layer>.<table>, e.g. gold.customer_summary")
            version = table.args.get("version")
            applied = applied or version is None
            yield TableRef(table, TableId(table.db, table.name),
                           _moment(version) if version is not None else as_of)
        if as_of is not None and not applied:
            # said rather than ignored: the reader would take the result as of that moment
            raise QueryError(f"--as-of {as_of} applies to no table here: the query reads no "
                             "lake table without its own FOR ... AS OF")

    def sql(self, dialect: str) -> str:
        """The query in ``dialect``; a construct that dialect lacks is a named error."""
        try:
            return self.tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise QueryError(f"not supported by the {dialect} engine: {exc}") from None
