"""An independent card-number scan over everything a run leaves outside Bronze.

Pure Python (no Spark, so it cannot share a blind spot with the pipeline's own scan): every
Parquet file under a table folder (every version, not only the current one), the Delta logs
(add-action statistics, commit metadata), and every other file of the lake (Data Docs, catalog
JSON, logs), plus any text such as a command's output. A finding is a Luhn-valid number of 11-19
digits (``lakehouse.pii.card.is_valid_pan``), unbroken or grouped by spaces or dashes, in any
script's digits; it is reported masked, so a failing test never prints a card number.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lakehouse.pii.card import is_valid_pan, mask_pan

# Runs of digits (any script) not glued to letters or digits, so hex tokens and ids never match,
# nor the fraction of a decimal number (a percentage Great Expectations reports, 4.87804878...).
_UNBROKEN = re.compile(r"(?<![^\W_])(?<!\d\.)(\d{11,19})(?![^\W_])")
# Card numbers as people write them: 4-4-4-(1..7) or Amex 4-6-5, spaces or dashes between.
_GROUPED = re.compile(r"(?<![^\W_])(\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})"
                      r"(?![^\W_])")
# UUIDs (Great Expectations ids its suites and results, run ids): random hex whose last group
# of 12 is all digits, and Luhn-valid, in about 1 of 3,000 ids. Not data; removed first.
_UUID = re.compile(r"(?<![^\W_])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}(?![^\W_])")
# Delta log fields that are sizes, counts, versions or epoch times, never data.
_LOG_NUMBERS = frozenset({"size", "modificationTime", "timestamp", "deletionTimestamp",
                          "createdTime", "numRecords", "nullCount", "minReaderVersion",
                          "minWriterVersion", "readVersion", "version", "operationMetrics"})


@dataclass(frozen=True)
class Finding:
    where: str      # file (and column or log field)
    masked: str     # the number with all but its last four digits masked

    def __str__(self) -> str:
        return f"{self.where}: {self.masked}"


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)


def card_numbers(text: str) -> list[str]:
    """Masked forms of the card numbers in ``text``."""
    found = []
    text = _UUID.sub("-", text)
    for pattern in (_UNBROKEN, _GROUPED):
        for match in pattern.finditer(text):
            digits = re.sub(r"[ -]", "", _ascii_digits(match.group(1)))
            if is_valid_pan(digits) and len(digits) >= 11:
                found.append(mask_pan(digits))
    return found


def _texts(value: Any, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every string or number inside a value (nested lists and maps included); a string that is
    itself JSON (Delta statistics) is walked too."""
    if value is None or isinstance(value, (bool, date, datetime)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            if key not in skip:
                yield from _texts(item, skip)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item, skip)
    elif isinstance(value, str):
        inner = None
        if value[:1] in "{[":
            with contextlib.suppress(ValueError):
                inner = json.loads(value)
        if isinstance(inner, (dict, list)):
            yield from _texts(inner, skip)  # e.g. stats: scanned value by value, keys skipped
        else:
            yield value
    elif isinstance(value, float):
        yield repr(value)  # its fraction is not scanned (``_UNBROKEN``): only whole digits
        if value.is_integer() and abs(value) < 1e20:
            yield str(int(value))
    elif isinstance(value, (int, Decimal)):
        yield str(value)
    else:
        yield str(value)


def scan_values(values: Any, where: str, skip: frozenset[str] = frozenset()) -> list[Finding]:
    return [Finding(where, m) for text in _texts(values, skip) for m in card_numbers(text)]


def scan_text(text: str, where: str) -> list[Finding]:
    return [Finding(where, m) for m in card_numbers(text)]


def scan_parquet(path: Path, where: str, skip: frozenset[str] = frozenset()) -> list[Finding]:
    table = pq.read_table(path)
    findings = []
    for name in table.column_names:
        findings += scan_values(table.column(name).to_pylist(), f"{where} [{name}]", skip)
    return findings


def scan_delta_log(path: Path, where: str) -> list[Finding]:
    """A commit file: one JSON action per line; statistics and metadata are data, sizes and
    times are not."""
    findings = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            findings += scan_values(json.loads(line), f"{where}:{number}", _LOG_NUMBERS)
    return findings


def scan_file(path: Path, where: str) -> list[Finding]:
    if path.suffix == ".parquet":  # a table's data, or a checkpoint of its log (its actions)
        return scan_parquet(path, where,
                            _LOG_NUMBERS if path.parent.name == "_delta_log" else frozenset())
    if path.parent.name == "_delta_log" and path.suffix == ".json":
        return scan_delta_log(path, where)
    if path.suffix == ".crc" or path.name.endswith(".parquet.crc"):
        return []  # Hadoop checksums of the Parquet files scanned above
    text = path.read_bytes().decode("utf-8", errors="replace")
    findings = scan_text(text, where)
    if path.suffix == ".json":  # JSON escapes non-ASCII digits: read the values too
        with contextlib.suppress(ValueError):
            findings += scan_values(json.loads(text), where)
    return findings


def scan_lake(root: Path, skip: tuple[str, ...] = ("bronze",)) -> tuple[list[Finding], int]:
    """Findings in every file under ``root`` except the top-level folders in ``skip``, and the
    number of files scanned."""
    findings: list[Finding] = []
    scanned = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in skip:
            continue
        findings += scan_file(path, str(relative))
        scanned += 1
    return findings, scanned
