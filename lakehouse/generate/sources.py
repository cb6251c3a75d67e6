"""Writing each source's landing files under out/<source>/ in its contract's layout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from random import Random

from lakehouse.generate.dates import days_between, month_ends
from lakehouse.generate.defects import (
    CUSTOMER_DEFECTS,
    CUSTOMER_MUTATORS,
    LOAN_DEFECTS,
    LOAN_MUTATORS,
    TRANSACTION_DEFECTS,
    DefectPlan,
    corrupt_records,
    corrupt_transactions,
)
from lakehouse.generate.loans import loan_snapshots
from lakehouse.generate.people import Population
from lakehouse.generate.transactions import COLUMNS, TransactionStream
from lakehouse.generate.writers import Written, csv_line, write_lines

GZIP_EVERY = 7
INDEX_COLUMN_EVERY = 5
PROGRESS_EVERY_DAYS = 30
HEADER = csv_line(COLUMNS)
INDEXED_HEADER = csv_line(("", *COLUMNS))


def write_customers(out: Path, seed: int, population: Population, start: date,
                    defect_rate: float) -> Written:
    """A full extract on the start day, then each month's changes on the 1st."""
    plan = DefectPlan(Random(f"{seed}:defects:customers"), defect_rate, CUSTOMER_DEFECTS)
    batches = {start: [holder.initial for holder in population.customers]}
    for day, changed in population.updates.items():
        batches[day] = sorted(changed, key=lambda person: person.updated_at)
    rows = 0
    for day, people in batches.items():
        records = [person.to_record() for person in people]
        lines = corrupt_records(plan, records, CUSTOMER_MUTATORS)
        write_lines(out / "customers" / f"customers_{day.isoformat()}.jsonl", lines)
        rows += len(lines)
    return Written(len(batches), rows, plan.counts)


def write_transactions(out: Path, seed: int, population: Population, start: date, end: date,
                       defect_rate: float, progress: Callable[[str], None]) -> Written:
    """One CSV a day; every 7th gzipped, every 5th with the public data's unnamed index column."""
    plan = DefectPlan(Random(f"{seed}:defects:transactions"), defect_rate, TRANSACTION_DEFECTS)
    stream = TransactionStream(seed, population.cardholders)
    total_days = (end - start).days
    rows = 0
    for number, day in enumerate(days_between(start, end), start=1):
        with_index = number % INDEX_COLUMN_EVERY == 0
        lines, cut_tail = corrupt_transactions(plan, stream.day(day), with_index=with_index)
        suffix = ".csv.gz" if number % GZIP_EVERY == 0 else ".csv"
        path = (out / "transactions" / f"{day.year:04d}" / f"{day.month:02d}"
                / f"transactions_{day.isoformat()}{suffix}")
        write_lines(path, lines, header=INDEXED_HEADER if with_index else HEADER,
                    final_newline=not cut_tail)
        rows += len(lines)
        if number % PROGRESS_EVERY_DAYS == 0 and number < total_days:
            progress(f"transactions: {number}/{total_days} days written (up to {day})")
    return Written(total_days, rows, plan.counts)


def write_loans(out: Path, seed: int, population: Population, start: date, end: date,
                defect_rate: float) -> Written:
    """One JSON-lines snapshot of the loan book per month end."""
    plan = DefectPlan(Random(f"{seed}:defects:loans"), defect_rate, LOAN_DEFECTS)
    borrowers = [holder.initial for holder in population.customers]
    snapshots = loan_snapshots(seed, borrowers, month_ends(start, end))
    rows = 0
    for as_of, records in snapshots.items():
        lines = corrupt_records(plan, records, LOAN_MUTATORS)
        write_lines(out / "loans" / f"loans_{as_of.isoformat()}.json", lines)
        rows += len(lines)
    return Written(len(snapshots), rows, plan.counts)
