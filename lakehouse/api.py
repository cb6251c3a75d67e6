"""The Python API for notebooks and scripts: tables and queries as pandas, on the local engine
(DuckDB over the Delta tables, no JVM) or on Athena when configured (``LAKEHOUSE_ENGINE=athena``
or ``athena.engine`` in the configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lakehouse.config import load_settings
from lakehouse.engines import engine_for
from lakehouse.engines.sql import Param
from lakehouse.io.lake import TableId


def _engine(lake: str | None, engine: str | None) -> Any:
    return engine_for(load_settings(lake_root=lake), engine)


def read_table(name: str, version: int | None = None, as_of: datetime | str | None = None,
               *, lake: str | None = None, engine: str | None = None) -> Any:
    """A table (e.g. ``"gold.customer_summary"``) as pandas: current, or at a version or time.

    On Athena a version must first be published with ``lakehouse snapshot``."""
    table = TableId.parse(name)
    moment = version if version is not None else (
        as_of.isoformat() if isinstance(as_of, datetime) else as_of)
    return _engine(lake, engine).query(f"SELECT * FROM {table.layer}.{table.name}",
                                       as_of=moment)


def query(sql: str, params: Mapping[str, Param] | None = None,
          as_of: int | str | None = None, *, lake: str | None = None,
          engine: str | None = None) -> Any:
    """Athena SQL over the lake, as pandas (see ``lakehouse.engines``)."""
    return _engine(lake, engine).query(sql, params, as_of)
