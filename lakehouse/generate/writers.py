"""Rendering of CSV and JSON lines and reproducible file writing (plain or gzip)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Written:
    """What was written for one source."""

    files: int
    rows: int
    defects: dict[str, int]


def csv_line(fields: Sequence[str]) -> str:
    """One CSV record (comma, minimal '"' quoting) without its line terminator."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()[:-1]


def json_line(record: Mapping[str, object]) -> str:
    """One JSON-lines record, keys in the given order."""
    return json.dumps(record)


def write_lines(path: Path, lines: Sequence[str], *, header: str | None = None,
                final_newline: bool = True) -> None:
    """Write or overwrite a file; '.gz' names get a fixed gzip mtime so the bytes reproduce."""
    parts = ([header] if header is not None else []) + list(lines)
    text = "\n".join(parts) + ("\n" if parts and final_newline else "")
    data = text.encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
