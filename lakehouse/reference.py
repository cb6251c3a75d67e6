"""Reference data kept in the repo (``conf/reference/*.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

from lakehouse.errors import ConfigError


def load_reference_values(folder: Path) -> dict[str, frozenset[str]]:
    """Each CSV's first column as the accepted values for ``reference: <file stem>``."""
    values: dict[str, frozenset[str]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if len(rows) < 2:
            raise ConfigError(f"{path}: a reference file needs a header and at least one row")
        values[path.stem] = frozenset(row[0].strip() for row in rows[1:] if row and row[0].strip())
    return values
