"""ops.ingested_files and ops.run_log: their schemas and rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from pyspark.sql import types as T

from lakehouse.io.lake import TableId

INGESTED_FILES = TableId("ops", "ingested_files")
RUN_LOG = TableId("ops", "run_log")

# File outcomes in ops.ingested_files
LOADED, EMPTY, REJECTED, DUPLICATE_FILE = "loaded", "empty", "rejected", "duplicate_file"
# In Bronze, held back from Silver by a quality gate: the next run replays it from Bronze
BLOCKED = "blocked"
# Files whose content is never processed again (unless --full-refresh)
SETTLED = (LOADED, EMPTY, REJECTED, DUPLICATE_FILE)


def _spark_type(python_type: str) -> T.DataType:
    return {"str": T.StringType(), "int": T.LongType(), "float": T.DoubleType(),
            "datetime": T.TimestampType()}[python_type.split(" ")[0].split("|")[0].strip()]


def _schema(cls: type) -> T.StructType:
    return T.StructType([T.StructField(f.name, _spark_type(str(f.type))) for f in fields(cls)])


@dataclass(frozen=True)
class IngestedFile:
    """One landing file considered by a run, and what became of it."""

    source: str
    path: str
    size: int
    modified_at: datetime
    content_hash: str | None
    run_id: str
    ingested_at: datetime
    outcome: str
    note: str | None
    rows_in: int
    rows_written: int
    rows_quarantined: int
    rows_duplicate: int


@dataclass(frozen=True)
class RunStep:
    """One step of a run: rows in and out, duration and outcome."""

    run_id: str
    step: str
    table: str
    started_at: datetime
    duration_s: float
    outcome: str
    rows_in: int
    rows_written: int
    rows_quarantined: int
    rows_duplicate: int
    rows_inserted: int
    rows_updated: int
    table_version: int | None
    message: str | None


INGESTED_FILES_SCHEMA = _schema(IngestedFile)
RUN_LOG_SCHEMA = _schema(RunStep)


def records(rows: Sequence[IngestedFile | RunStep]) -> list[tuple[Any, ...]]:
    """Rows as tuples in their table's column order (``DeltaIO.append_records``)."""
    return [tuple(asdict(r).values()) for r in rows]
