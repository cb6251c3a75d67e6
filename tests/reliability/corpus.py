"""The bad-input corpus of ``tests/data/bad_inputs``: its manifest, and landing it."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
MANIFEST = CORPUS / "cases.yaml"
# Landing times: the first file at this moment, each next one 10 s later (the landing order
# decides which of two files with the same key wins).
FIRST_LANDED = 1_704_067_200  # 2024-01-01T00:00:00Z
# Where each source's clean rows land in Silver, and the key column the manifest lists.
SILVER_TABLE = {"transactions": ("silver.transactions", "trans_id"),
                "customers": ("silver.customers_history", "customer_id"),
                "loans": ("silver.loans", "loan_id")}
QUARANTINE_TABLE = {"transactions": "silver.transactions_quarantine",
                    "customers": "silver.customers_quarantine",
                    "loans": "silver.loans_quarantine"}


@dataclass(frozen=True)
class CaseFile:
    """One landing file of a case and what the pipeline must make of it."""

    case: str
    source: str
    landing: str                       # path below the landing root
    outcome: str
    silver: tuple[str, ...]
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    never_stored: tuple[str, ...] = ()
    no_clean_rows: str | None = None   # why a loaded file holds no clean row
    file: str | None = None            # committed text, below tests/data/bad_inputs
    make: tuple[Any, ...] = ()
    copy_of: str | None = None

    @property
    def rows_in(self) -> int:
        return len(self.silver) + self.quarantined + self.duplicates


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    kind: str
    files: tuple[CaseFile, ...]


def load_cases() -> list[Case]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    cases = []
    for raw in data["cases"]:
        files = []
        for spec in raw["files"]:
            landing = spec.get("landing") or spec["file"]
            assert landing.startswith(raw["source"] + "/"), f"{raw['id']}: {landing}"
            files.append(CaseFile(
                case=raw["id"], source=raw["source"], landing=landing,
                outcome=spec["outcome"], silver=tuple(spec.get("silver") or ()),
                quarantined=spec.get("quarantined", 0), duplicates=spec.get("duplicates", 0),
                reasons=dict(spec.get("reasons") or {}), note=spec.get("note"),
                never_stored=tuple(spec.get("never_stored") or ()),
                no_clean_rows=spec.get("no_clean_rows"), file=spec.get("file"),
                make=tuple(spec.get("make") or ()), copy_of=spec.get("copy_of")))
        cases.append(Case(raw["id"], raw["source"], raw["kind"], tuple(files)))
    return cases


def landed_bytes(spec: CaseFile) -> bytes:
    """The bytes a case file lands as: its committed text, transformed as the manifest says."""
    assert spec.file is not None
    data = (CORPUS / spec.file).read_bytes()
    for step in spec.make:
        if step == "bom":
            data = b"\xef\xbb\xbf" + data
        elif step == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif step == "latin-1":
            data = data.decode("utf-8").encode("latin-1")
        elif step == "gzip":
            data = gzip.compress(data, mtime=0)
        elif isinstance(step, dict) and "truncate" in step:
            data = data[: len(data) - int(step["truncate"])]
        else:
            raise ValueError(f"{spec.case}: unknown make step {step!r}")
    return data


def land(cases: list[Case], landing: Path) -> dict[str, CaseFile]:
    """Write every case file below ``landing`` in manifest order; landing path -> expectation."""
    expected: dict[str, CaseFile] = {}
    for number, spec in enumerate(f for case in cases for f in case.files):
        assert spec.landing not in expected, f"{spec.case}: {spec.landing} landed twice"
        data = (landed_bytes(spec) if spec.copy_of is None
                else (landing / spec.copy_of).read_bytes())
        target = landing / spec.landing
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        moment = FIRST_LANDED + 10 * number
        os.utime(target, (moment, moment))
        expected[spec.landing] = spec
    return expected
