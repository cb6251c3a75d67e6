"""Seeded, reproducible sample landing data: transactions, customers and loans, with defects."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from lakehouse.generate.dates import add_months, month_starts_after
from lakehouse.generate.people import build_population
from lakehouse.generate.sources import write_customers, write_loans, write_transactions
from lakehouse.generate.writers import Written

__all__ = ["GenerateSummary", "generate"]

MAX_MONTHS = 60
MAX_DEFECT_RATE = 0.5


@dataclass(frozen=True)
class GenerateSummary:
    """What a generate call wrote: files, data rows and injected defects per source."""

    out: Path
    files: dict[str, int]
    rows: dict[str, int]
    defects: dict[str, dict[str, int]]

    def describe(self) -> str:
        """A few lines for the command line: one per source, defects by kind."""
        lines = [f"sample data written to {self.out}"]
        for source, files in self.files.items():
            kinds = {kind: count for kind, count in self.defects[source].items() if count}
            detail = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
            lines.append(
                f"  {source}: {files} files, {self.rows[source]} rows, "
                f"{sum(kinds.values())} defects" + (f" ({detail})" if detail else ""))
        return "\n".join(lines)


def generate(out: Path, *, customers: int = 200, months: int = 3, seed: int = 42,
             defect_rate: float = 0.02, start: date = date(2024, 1, 1),
             progress: Callable[[str], None] | None = None) -> GenerateSummary:
    """Write customers, daily transactions and month-end loan snapshots under out/<source>/."""
    _validate(customers, months, seed, defect_rate, start)
    out = Path(out)
    notify = progress or _silent
    end = add_months(start, months)
    population = build_population(seed, customers, start, month_starts_after(start, end))
    written: dict[str, Written] = {}

    written["customers"] = write_customers(out, seed, population, start, defect_rate)
    notify(_line("customers", written["customers"]))
    written["transactions"] = write_transactions(out, seed, population, start, end, defect_rate,
                                                 notify)
    notify(_line("transactions", written["transactions"]))
    written["loans"] = write_loans(out, seed, population, start, end, defect_rate)
    notify(_line("loans", written["loans"]))

    return GenerateSummary(
        out=out,
        files={source: result.files for source, result in written.items()},
        rows={source: result.rows for source, result in written.items()},
        defects={source: dict(result.defects) for source, result in written.items()},
    )


def _validate(customers: int, months: int, seed: int, defect_rate: float, start: date) -> None:
    """Reject arguments that cannot produce a sensible sample, with a one-line reason."""
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a whole number >= 1, got {customers!r}")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be a whole number from 1 to {MAX_MONTHS}, got {months!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, got {seed!r}")
    if (isinstance(defect_rate, bool) or not isinstance(defect_rate, int | float)
            or math.isnan(defect_rate) or not 0 <= defect_rate <= MAX_DEFECT_RATE):
        raise ValueError(
            f"defect_rate must be between 0 and {MAX_DEFECT_RATE}, got {defect_rate!r}")
    if isinstance(start, datetime) or not isinstance(start, date):
        raise ValueError(f"start must be a date, got {start!r}")


def _line(source: str, written: Written) -> str:
    """Progress message after a source is complete."""
    defects = sum(written.defects.values())
    return f"{source}: {written.files} files, {written.rows} rows, {defects} defects"


def _silent(message: str) -> None:
    """Progress sink used when the caller wants none."""
