"""Defect injection: each clean row gets at most one defect with probability defect_rate."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from random import Random
from typing import Any

from lakehouse.generate.transactions import COLUMNS
from lakehouse.generate.writers import csv_line, json_line

TRANSACTION_DEFECTS: tuple[str, ...] = (
    "bad_timestamp", "invalid_card_number", "amount_out_of_range", "missing_key",
    "unknown_category", "bad_coordinates", "bad_number", "malformed_row", "exact_duplicate",
    "conflicting_duplicate",
)
CUSTOMER_DEFECTS: tuple[str, ...] = (
    "missing_key", "bad_date", "out_of_range", "bad_number", "malformed_row", "exact_duplicate",
)
LOAN_DEFECTS: tuple[str, ...] = (
    "missing_key", "invalid_value", "amount_out_of_range", "bad_date", "malformed_row",
    "exact_duplicate",
)
# Share of transaction files whose last line is cut off without a newline (a broken transfer).
TRUNCATED_TAIL_SHARE = 0.1
UNKNOWN_CATEGORIES = ("space_travel", "crypto_atm", "timeshare")

Record = dict[str, Any]
RowMutator = Callable[[Random, list[str]], list[str]]
RecordMutator = Callable[[Random, Record], Record]

_TS = COLUMNS.index("trans_date_trans_time")
_PAN = COLUMNS.index("cc_num")
_CATEGORY = COLUMNS.index("category")
_AMOUNT = COLUMNS.index("amt")
_KEY = COLUMNS.index("trans_num")
_LATITUDES = (COLUMNS.index("lat"), COLUMNS.index("merch_lat"))
_LONGITUDES = (COLUMNS.index("long"), COLUMNS.index("merch_long"))


class DefectPlan:
    """Decides which rows of a source get a defect and counts every defect injected."""

    def __init__(self, rng: Random, rate: float, kinds: tuple[str, ...]) -> None:
        self.rng = rng
        self.rate = rate
        self.kinds = kinds
        self.counts: dict[str, int] = dict.fromkeys(kinds, 0)

    def draw(self) -> str | None:
        """The defect for the next clean row (counted), or None to leave it clean."""
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        self.counts[kind] += 1
        return kind


def corrupt_transactions(plan: DefectPlan, rows: list[list[str]], *,
                         with_index: bool) -> tuple[list[str], bool]:
    """A day's CSV lines with defects; True when the last line is cut short with no newline."""
    rng = plan.rng
    cut_tail = bool(rows) and plan.rate > 0 and rng.random() < TRUNCATED_TAIL_SHARE
    body = rows[:-1] if cut_tail else rows
    lines: list[str] = []
    copies: list[tuple[int, str]] = []
    for number, row in enumerate(body):
        prefix = [str(number)] if with_index else []
        clean = csv_line(prefix + row)
        kind = plan.draw()
        if kind is None:
            lines.append(clean)
        elif kind == "exact_duplicate":
            copies.append((len(lines), clean))
            lines.append(clean)
        elif kind == "conflicting_duplicate":
            copies.append((len(lines), csv_line(prefix + _other_amount(rng, row))))
            lines.append(clean)
        elif kind == "malformed_row":
            extra = ["", "", "N/A"]
            lines.append(_cut_csv(rng, clean) if rng.random() < 0.5 else csv_line(
                prefix + row + extra))
        else:
            lines.append(csv_line(prefix + _ROW_MUTATORS[kind](rng, list(row))))
    out = _place_copies(rng, lines, copies)
    if cut_tail:
        prefix = [str(len(body))] if with_index else []
        out.append(_cut_csv(rng, csv_line(prefix + rows[-1])))
        plan.counts["malformed_row"] += 1
    return out, cut_tail


def corrupt_records(plan: DefectPlan, records: list[Record],
                    mutators: Mapping[str, RecordMutator]) -> list[str]:
    """JSON lines with defects: mutated fields, truncated lines, or repeated lines."""
    rng = plan.rng
    lines: list[str] = []
    copies: list[tuple[int, str]] = []
    for record in records:
        clean = json_line(record)
        kind = plan.draw()
        if kind is None:
            lines.append(clean)
        elif kind == "exact_duplicate":
            copies.append((len(lines), clean))
            lines.append(clean)
        elif kind == "malformed_row":
            lines.append(clean[: rng.randint(len(clean) // 4, len(clean) - 2)])
        else:
            lines.append(json_line(mutators[kind](rng, copy.deepcopy(record))))
    return _place_copies(rng, lines, copies)


def _place_copies(rng: Random, lines: list[str], copies: list[tuple[int, str]]) -> list[str]:
    """Insert each copy somewhere after its original line."""
    after: dict[int, list[str]] = {}
    for position, line in copies:
        after.setdefault(rng.randint(position, len(lines) - 1), []).append(line)
    out: list[str] = []
    for position, line in enumerate(lines):
        out.append(line)
        out.extend(after.get(position, []))
    return out


def _cut_csv(rng: Random, line: str) -> str:
    """The line cut before its last field, never inside quotes (so the next line stays intact)."""
    cuts = []
    quotes = 0
    for position, char in enumerate(line[: line.rfind(",")]):
        if quotes % 2 == 0 and position > 0:
            cuts.append(position)
        quotes += char == '"'
    return line[: rng.choice(cuts)]


def _other_amount(rng: Random, row: list[str]) -> list[str]:
    """Same transaction, different amount."""
    changed = list(row)
    changed[_AMOUNT] = f"{float(row[_AMOUNT]) + rng.randint(1, 50) + 0.01:.2f}"
    return changed


def _bad_timestamp(rng: Random, row: list[str]) -> list[str]:
    """A timestamp no parser should accept: impossible values, text, or a day-first layout."""
    ts = row[_TS]
    row[_TS] = rng.choice((
        f"{ts[:4]}-13-45 25:61:00",
        "not-a-date",
        f"{ts[8:10]}/{ts[5:7]}/{ts[:4]} {ts[11:16]}",
    ))
    return row


def _invalid_card_number(rng: Random, row: list[str]) -> list[str]:
    """A card number failing Luhn, too short, or with letters."""
    pan = row[_PAN]
    # Changing only the check digit always breaks the Luhn sum.
    wrong_check = pan[:-1] + str((int(pan[-1]) + rng.randint(1, 9)) % 10)
    row[_PAN] = rng.choice((wrong_check, pan[:5], pan[:4] + "abc" + pan[7:]))
    return row


def _amount_out_of_range(rng: Random, row: list[str]) -> list[str]:
    """An amount that is negative, zero or implausibly large."""
    row[_AMOUNT] = rng.choice((f"-{row[_AMOUNT]}", "0.00", "250000000.00"))
    return row


def _missing_trans_num(rng: Random, row: list[str]) -> list[str]:
    """No natural key."""
    row[_KEY] = ""
    return row


def _unknown_category(rng: Random, row: list[str]) -> list[str]:
    """A category missing from the reference list."""
    row[_CATEGORY] = rng.choice(UNKNOWN_CATEGORIES)
    return row


def _bad_coordinates(rng: Random, row: list[str]) -> list[str]:
    """A latitude beyond +-90 or a longitude beyond +-180."""
    if rng.random() < 0.5:
        row[rng.choice(_LATITUDES)] = rng.choice(("123.4", "-91.0"))
    else:
        row[rng.choice(_LONGITUDES)] = rng.choice(("-200.5", "181.25"))
    return row


def _bad_amount_number(rng: Random, row: list[str]) -> list[str]:
    """An amount that is not a number (text, or a decimal comma)."""
    row[_AMOUNT] = rng.choice(("abc", row[_AMOUNT].replace(".", ",")))
    return row


_ROW_MUTATORS: dict[str, RowMutator] = {
    "bad_timestamp": _bad_timestamp,
    "invalid_card_number": _invalid_card_number,
    "amount_out_of_range": _amount_out_of_range,
    "missing_key": _missing_trans_num,
    "unknown_category": _unknown_category,
    "bad_coordinates": _bad_coordinates,
    "bad_number": _bad_amount_number,
}


def _customer_missing_key(rng: Random, record: Record) -> Record:
    """Null or empty customer_id."""
    record["customer_id"] = rng.choice((None, ""))
    return record


def _customer_bad_date(rng: Random, record: Record) -> Record:
    """A birth date that does not exist or is not a date."""
    record["dob"] = rng.choice((f"{record['dob'][:4]}-02-30", "yesterday"))
    return record


def _customer_out_of_range(rng: Random, record: Record) -> Record:
    """A credit score above 850 or a negative income."""
    if rng.random() < 0.5:
        record["credit_score"] = 999
    else:
        record["annual_income"] = -5.0
    return record


def _customer_bad_number(rng: Random, record: Record) -> Record:
    """A credit score given as a word."""
    record["credit_score"] = "excellent"
    return record


CUSTOMER_MUTATORS: dict[str, RecordMutator] = {
    "missing_key": _customer_missing_key,
    "bad_date": _customer_bad_date,
    "out_of_range": _customer_out_of_range,
    "bad_number": _customer_bad_number,
}


def _loan_missing_key(rng: Random, record: Record) -> Record:
    """No loan_id at all."""
    del record["loan_id"]
    return record


def _loan_invalid_value(rng: Random, record: Record) -> Record:
    """A status or product outside the accepted values."""
    if rng.random() < 0.5:
        record["status"] = "unknown"
    else:
        record["product"] = "yacht"
    return record


def _loan_amount_out_of_range(rng: Random, record: Record) -> Record:
    """A negative principal or outstanding balance."""
    if rng.random() < 0.5:
        record["terms"]["principal"] = -100.0
    else:
        record["outstanding_balance"] = -5.0
    return record


def _loan_bad_date(rng: Random, record: Record) -> Record:
    """An as_of_date that does not exist."""
    year, month = record["as_of_date"][:4], record["as_of_date"][5:7]
    record["as_of_date"] = rng.choice((f"{year}-02-31", f"{year}-{month}-32", f"{year}-13-01"))
    return record


LOAN_MUTATORS: dict[str, RecordMutator] = {
    "missing_key": _loan_missing_key,
    "invalid_value": _loan_invalid_value,
    "amount_out_of_range": _loan_amount_out_of_range,
    "bad_date": _loan_bad_date,
}
