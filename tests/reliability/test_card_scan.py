"""The independent card-number scan finds what it must and nothing else (no Spark)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet
import pytest
from deltalake import write_deltalake

from lakehouse.pii.card import luhn_check_digit
from tests.reliability.card_scan import card_numbers, scan_lake, scan_text, scan_values

VISA = "4111111111111111"   # well-known test numbers (Luhn-valid)
AMEX = "378282246310005"


@pytest.mark.parametrize("text", [
    VISA,
    f"card {VISA}.",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "3782 822463 10005",
    '{"merchant": "paid with 5555555555554444"}',
    "".join(chr(0x0660 + int(d)) for d in VISA),   # Arabic-Indic digits
    "".join(chr(0xFF10 + int(d)) for d in AMEX),   # full-width digits
    f"{VISA}.0",
])
def test_finds_a_card_number(text):
    assert len(card_numbers(text)) == 1
    assert VISA not in str(card_numbers(text)) and AMEX not in str(card_numbers(text)), \
        "findings are masked"


@pytest.mark.parametrize("text", [
    "************1111",
    "4111111111111112",                      # not Luhn-valid
    "4111111111",                            # 10 digits
    "a4111111111111111",                     # glued to letters: part of an id or a hex token
    "4111111111111111" + "0" * 8,            # 24 digits
    "trans_id=0a1b2c3d4111111111111111ef",
    "20240131T020000Z-1a2b3c",
])
def test_ignores_what_is_not_a_card_number(text):
    assert card_numbers(text) == []


def test_the_fraction_of_a_decimal_number_is_not_a_card_number():
    """Great Expectations reports shares as floats: 2 of 41 rows is 4.878048780487805%, whose
    fraction is a Luhn-valid 15-digit run (a lake scan once flagged ``ops.dq_results``). The
    same digits elsewhere are found."""
    share = 2 / 41 * 100
    assert card_numbers(repr(share)) == []
    assert card_numbers(json.dumps({"unexpected_percent": share})) == []
    assert scan_values([share], "dq_results") == []
    assert card_numbers("ref 878048780487805") != []
    assert card_numbers(f"order no.{VISA}") != []
    assert scan_values([float(VISA)], "t") != [], "a card number held as a float is found"


def test_a_uuid_is_not_a_card_number_but_its_digits_alone_are():
    """Great Expectations names every expectation with a random UUID; about 1 in 3,000 ends in
    12 decimal digits that pass Luhn (the scan once failed a run on one)."""
    digits = "24774074239" + str(luhn_check_digit("24774074239"))
    assert card_numbers(f'"id": "faa6273b-2e6e-4671-b4ef-{digits}"') == []
    assert card_numbers(f"ref {digits}") != []


def _table(root: Path, name: str, values: list) -> Path:
    path = root / name
    write_deltalake(str(path), pa.table({"note": pa.array(values, pa.string())}))
    return path


def test_scans_table_files_logs_and_other_files_outside_skipped_folders(tmp_path):
    lake = tmp_path / "lake"
    clean = _table(lake / "silver", "clean", ["************1111", "fine"])
    findings, scanned = scan_lake(lake)
    assert scanned >= 2 and findings == []

    _table(lake / "gold", "planted", ["fine", VISA])           # in Parquet and in log stats
    _table(lake / "bronze", "raw", [VISA])                     # allowed: Bronze is skipped
    (lake / "_quality").mkdir()
    (lake / "_quality" / "index.html").write_text(f"<td>{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}</td>")
    (lake / "_catalog").mkdir()
    (lake / "_catalog" / "t.json").write_text(json.dumps({"comment": "\u0664" + VISA[1:]}))
    findings, _ = scan_lake(lake)
    places = sorted({f.where.split(" [")[0].split(":")[0] for f in findings})
    assert [p for p in places if p.startswith("gold/planted/_delta_log")], places
    assert [p for p in places if p.startswith("gold/planted/") and p.endswith(".parquet")]
    assert "_quality/index.html" in places and "_catalog/t.json" in places
    assert not [p for p in places if p.startswith(("bronze", "silver"))]
    assert clean.exists()


def test_sizes_and_times_in_the_delta_log_are_not_findings(tmp_path):
    log = tmp_path / "lake" / "ops" / "t" / "_delta_log"
    log.mkdir(parents=True)
    # 1795631353970 is a Luhn-valid 13-digit epoch time in milliseconds
    (log / "00000000000000000000.json").write_text(json.dumps(
        {"commitInfo": {"timestamp": 1795631353970, "operationParameters": {
            "metadata": json.dumps({"createdTime": 1795631353970})}}}) + "\n")
    assert scan_lake(tmp_path / "lake")[0] == []
    (log / "00000000000000000001.json").write_text(json.dumps(
        {"add": {"path": "x.parquet", "size": 1795631353970,
                 "stats": json.dumps({"minValues": {"note": VISA}})}}) + "\n")
    assert len(scan_lake(tmp_path / "lake")[0]) == 1


def test_sizes_and_times_in_a_log_checkpoint_are_not_findings(tmp_path):
    log = tmp_path / "lake" / "ops" / "t" / "_delta_log"
    log.mkdir(parents=True)
    add = pa.struct([("path", pa.string()), ("modificationTime", pa.int64()),
                     ("stats", pa.string())])

    def checkpoint(stats: dict) -> None:
        rows = [{"path": "x.parquet", "modificationTime": 1795631353970,
                 "stats": json.dumps(stats)}]
        pa.parquet.write_table(pa.table({"add": pa.array(rows, add)}),
                               log / "00000000000000000002.checkpoint.parquet")

    checkpoint({"minValues": {"note": "fine"}})
    assert scan_lake(tmp_path / "lake")[0] == []
    checkpoint({"minValues": {"note": VISA}})
    assert len(scan_lake(tmp_path / "lake")[0]) == 1


def test_output_text_is_scanned():
    assert scan_text(f"failed: value {VISA}", "stderr")
    assert scan_text("failed: value ************1111", "stderr") == []
