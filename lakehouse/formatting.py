"""Rows as an aligned text table, CSV or JSON (the command line's output formats)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def aligned(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [list(headers), *[[_text(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def as_csv(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[_text(v) for v in row] for row in rows])
    return buffer.getvalue().rstrip("\n")


def as_json(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    return json.dumps([dict(zip(headers, row, strict=True)) for row in rows], default=str,
                      indent=1)
