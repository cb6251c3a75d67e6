"""Reading a lake's tables without Spark (delta-rs), and comparing two lakes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

# Columns that name the run or the moment that wrote a row: they differ between two runs that
# produce the same data.
RUN_COLUMNS = frozenset({"ingest_run_id", "ingested_at", "run_id", "started_at", "duration_s",
                         "validated_at"})


def table_path(lake: Path, name: str) -> Path:
    layer, table = name.split(".")
    return lake / layer / table


def read_table(lake: Path, name: str) -> pd.DataFrame:
    return DeltaTable(str(table_path(lake, name))).to_pandas()


def sorted_rows(df: pd.DataFrame, drop: frozenset[str] = RUN_COLUMNS) -> list[tuple]:
    """A table's rows as sorted tuples of text, without the run-specific columns."""
    keep = sorted(c for c in df.columns if c not in drop)

    def text(value) -> str:
        if hasattr(value, "tolist"):  # arrays (quarantine reasons)
            value = value.tolist()
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else \
            repr(value)

    return sorted(tuple(text(v) for v in row) for row in df[keep].itertuples(index=False))


def checksum(df: pd.DataFrame, drop: frozenset[str] = RUN_COLUMNS) -> str:
    """SHA-256 of a table's sorted rows (run-specific columns left out)."""
    digest = hashlib.sha256()
    for row in sorted_rows(df, drop):
        digest.update("\u0001".join(row).encode("utf-8") + b"\n")
    return digest.hexdigest()
