"""The Python API for notebooks and scripts: Gold and Silver as pandas, no JVM needed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lakehouse.config import load_settings
from lakehouse.engines.local import LocalEngine, Param
from lakehouse.io.lake import Lake, TableId


def _engine(lake: str | None) -> LocalEngine:
    root = lake or load_settings().lake_root
    return LocalEngine(Lake.at(root))


def read_table(name: str, version: int | None = None, as_of: datetime | str | None = None,
               *, lake: str | None = None) -> Any:
    """A table (e.g. ``"gold.customer_summary"``) as pandas: current, or at a version or time."""
    table = TableId.parse(name)
    moment = version if version is not None else (
        as_of.isoformat() if isinstance(as_of, datetime) else as_of)
    return _engine(lake).query(f"SELECT * FROM {table.layer}.{table.name}", as_of=moment)


def query(sql: str, params: Mapping[str, Param] | None = None,
          as_of: int | str | None = None, *, lake: str | None = None) -> Any:
    """Athena SQL over the lake, as pandas (see ``lakehouse.engines.local``)."""
    return _engine(lake).query(sql, params, as_of)
