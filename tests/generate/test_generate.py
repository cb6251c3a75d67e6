"""Sample-data generator: reproducibility, source contracts, defect accounting, real signals."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from statistics import mean

import pytest
import yaml

from lakehouse.generate import GenerateSummary, generate
from lakehouse.pii.card import is_valid_pan

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"customers": 30, "months": 2}
LOAN_KEYS = ["loan_id", "customer_id", "product", "terms", "origination_date", "status",
             "delinquency", "outstanding_balance", "as_of_date"]
CUSTOMER_KEYS = ["customer_id", "cc_num", "first", "last", "gender", "dob", "street", "city",
                 "state", "zip", "job", "email", "annual_income", "credit_score", "updated_at"]
PRODUCTS = {"personal", "auto", "mortgage", "student", "credit_line"}
STATUSES = {"current", "late", "default", "paid_off", "charged_off"}
BAD_STATUSES = {"default", "charged_off"}


def _layout(source: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "conf" / "sources" / f"{source}.yaml").read_text())
    return [item if isinstance(item, str) else item["name"] for item in spec["layout"]]


TRANSACTION_COLUMNS = _layout("transactions")
with (ROOT / "conf" / "reference" / "merchant_categories.csv").open() as handle:
    CATEGORIES = {row["category"] for row in csv.DictReader(handle)}


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")


def _files(out: Path, source: str) -> list[Path]:
    return sorted(path for path in (out / source).rglob("*") if path.is_file())


def _csv_files(out: Path) -> list[tuple[Path, list[str], list[list[str]]]]:
    """(path, header, data rows) of every transactions file."""
    parsed = []
    for path in _files(out, "transactions"):
        header, *rows = csv.reader(io.StringIO(_text(path)))
        parsed.append((path, header, rows))
    return parsed


def _records(row: list[str], header: list[str]) -> dict[str, str]:
    """Map a well-formed row to the layout columns, dropping the unnamed index column."""
    return dict(zip(header[len(header) - len(TRANSACTION_COLUMNS):],
                    row[len(header) - len(TRANSACTION_COLUMNS):], strict=True))


def _digests(out: Path) -> dict[str, str]:
    return {str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*")) if path.is_file()}


def _json_lines(path: Path) -> list[str]:
    return _text(path).splitlines()


def _is_date(text: object) -> bool:
    try:
        date.fromisoformat(str(text))
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerateSummary:
    return generate(tmp_path_factory.mktemp("small"), **SMALL)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GenerateSummary:
    return generate(tmp_path_factory.mktemp("clean"), customers=100, months=2, defect_rate=0)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> GenerateSummary:
    return generate(tmp_path_factory.mktemp("dirty"), customers=100, months=2, defect_rate=0.05)


@pytest.fixture(scope="module")
def loan_book(tmp_path_factory: pytest.TempPathFactory) -> GenerateSummary:
    return generate(tmp_path_factory.mktemp("loans"), customers=200, months=6, defect_rate=0)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    first = _digests(generate(tmp_path / "a", **SMALL).out)
    again = _digests(generate(tmp_path / "b", **SMALL).out)
    other = _digests(generate(tmp_path / "c", seed=7, **SMALL).out)
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_rerun_overwrites_its_own_files_and_leaves_others(tmp_path: Path) -> None:
    stray = tmp_path / "transactions" / "keep_me.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("untouched\n")
    before = _digests(generate(tmp_path, **SMALL).out)
    after = _digests(generate(tmp_path, **SMALL).out)
    assert before == after
    assert stray.read_text() == "untouched\n"


def test_file_layout_per_source(small: GenerateSummary) -> None:
    out = small.out
    days = _files(out, "transactions")
    assert len(days) == small.files["transactions"] == 60
    for number, path in enumerate(days, start=1):
        day = date(2024, 1, 1).toordinal() + number - 1
        stamp = date.fromordinal(day)
        suffix = ".csv.gz" if number % 7 == 0 else ".csv"
        assert path.relative_to(out).as_posix() == (
            f"transactions/{stamp:%Y/%m}/transactions_{stamp.isoformat()}{suffix}")
    assert [path.name for path in _files(out, "customers")] == [
        "customers_2024-01-01.jsonl", "customers_2024-02-01.jsonl"]
    assert [path.name for path in _files(out, "loans")] == [
        "loans_2024-01-31.json", "loans_2024-02-29.json"]
    assert small.files == {"customers": 2, "transactions": 60, "loans": 2}


def test_transaction_headers_match_the_contract(small: GenerateSummary) -> None:
    headers = [header for _, header, _ in _csv_files(small.out)]
    assert all(header in (TRANSACTION_COLUMNS, ["", *TRANSACTION_COLUMNS]) for header in headers)
    indexed = [number for number, header in enumerate(headers, start=1) if header[0] == ""]
    assert indexed == list(range(5, 61, 5))


def test_card_numbers_are_valid_except_injected_ones(small: GenerateSummary) -> None:
    invalid = 0
    for _, header, rows in _csv_files(small.out):
        for row in rows:
            if len(row) == len(header):
                invalid += not is_valid_pan(_records(row, header)["cc_num"])
    assert invalid == small.defects["transactions"]["invalid_card_number"] > 0


def test_row_counts_equal_lines_written(small: GenerateSummary, dirty: GenerateSummary) -> None:
    for summary in (small, dirty):
        for source in ("transactions", "customers", "loans"):
            lines = [_text(path).splitlines() for path in _files(summary.out, source)]
            header_lines = 1 if source == "transactions" else 0
            assert sum(len(found) - header_lines for found in lines) == summary.rows[source]


def test_clean_data_has_no_defects_and_everything_parses(clean: GenerateSummary) -> None:
    assert all(count == 0 for kinds in clean.defects.values() for count in kinds.values())
    trans_nums: list[str] = []
    for path, header, rows in _csv_files(clean.out):
        assert _text(path).endswith("\n")
        for row in rows:
            assert len(row) in (22, 23) and len(row) == len(header)
            record = _records(row, header)
            assert float(record["amt"]) > 0
            assert record["category"] in CATEGORIES
            assert is_valid_pan(record["cc_num"])
            assert re.fullmatch(r"[0-9a-f]{32}", record["trans_num"])
            stamp = datetime.strptime(record["trans_date_trans_time"], "%Y-%m-%d %H:%M:%S")
            assert path.name.startswith(f"transactions_{stamp.date().isoformat()}")
            assert int(record["unix_time"]) == int((stamp - datetime(1970, 1, 1)).total_seconds())
            assert abs(float(record["merch_lat"]) - float(record["lat"])) <= 1
            assert abs(float(record["merch_long"]) - float(record["long"])) <= 1
            assert re.fullmatch(r"\d{5}", record["zip"]) and record["is_fraud"] in ("0", "1")
            trans_nums.append(record["trans_num"])
    assert len(trans_nums) == len(set(trans_nums)) == clean.rows["transactions"]
    for source in ("customers", "loans"):
        for path in _files(clean.out, source):
            assert all(isinstance(json.loads(line), dict) for line in _json_lines(path))


def test_customer_records_and_updates(clean: GenerateSummary) -> None:
    first, *updates = _files(clean.out, "customers")
    initial = [json.loads(line) for line in _json_lines(first)]
    assert [record["customer_id"] for record in initial] == [
        f"C{number:06d}" for number in range(1, 101)]
    for record in initial:
        assert list(record) == CUSTOMER_KEYS
        assert isinstance(record["cc_num"], str) and is_valid_pan(record["cc_num"])
        assert isinstance(record["credit_score"], int) and 300 <= record["credit_score"] <= 850
        assert isinstance(record["annual_income"], float)
        assert 10_000 <= record["annual_income"] <= 400_000
        assert 1940 <= date.fromisoformat(record["dob"]).year <= 2005
        assert record["email"].endswith("@example.com") and len(record["state"]) == 2
    latest = {record["customer_id"]: record["updated_at"] for record in initial}
    for path in updates:
        changed = [json.loads(line) for line in _json_lines(path)]
        assert 5 <= len(changed) <= 10
        for record in changed:
            assert record["updated_at"] > latest[record["customer_id"]]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["updated_at"])
            latest[record["customer_id"]] = record["updated_at"]
    assert len({record["cc_num"] for record in initial}) == len(initial)


def test_some_cardholders_have_no_customer_record(small: GenerateSummary) -> None:
    known = {json.loads(line)["cc_num"] for path in _files(small.out, "customers")
             for line in _json_lines(path) if line.endswith("}")}
    seen = {_records(row, header)["cc_num"] for _, header, rows in _csv_files(small.out)
            for row in rows if len(row) == len(header)}
    unknown = {pan for pan in seen if is_valid_pan(pan)} - known
    assert 1 <= len(unknown) <= 0.2 * SMALL["customers"]


def test_fraud_is_rare_and_looks_different(clean: GenerateSummary) -> None:
    rows = [_records(row, header) for _, header, rows in _csv_files(clean.out) for row in rows]
    fraud = [row for row in rows if row["is_fraud"] == "1"]
    normal = [row for row in rows if row["is_fraud"] == "0"]
    assert 0.002 <= len(fraud) / len(rows) <= 0.02
    assert mean(float(row["amt"]) for row in fraud) > 3 * mean(float(row["amt"]) for row in normal)

    def night_share(group: list[dict[str, str]]) -> float:
        return mean(int(row["trans_date_trans_time"][11:13]) in (22, 23, 0, 1, 2, 3)
                    for row in group)

    assert night_share(fraud) > 2 * night_share(normal)
    per_day = len(rows) / 60 / 110
    assert 0.3 <= per_day <= 1.0


def test_loan_snapshots_have_the_nested_shape(loan_book: GenerateSummary) -> None:
    for path in _files(loan_book.out, "loans"):
        as_of = path.name.removeprefix("loans_").removesuffix(".json")
        for record in map(json.loads, _json_lines(path)):
            assert list(record) == LOAN_KEYS
            assert list(record["terms"]) == ["principal", "interest_rate", "term_months"]
            assert list(record["delinquency"]) == ["days_past_due"]
            assert re.fullmatch(r"L\d{7}", record["loan_id"])
            assert re.fullmatch(r"C\d{6}", record["customer_id"])
            assert record["product"] in PRODUCTS and record["status"] in STATUSES
            assert isinstance(record["terms"]["principal"], float)
            assert 0 < record["terms"]["interest_rate"] < 1
            assert isinstance(record["terms"]["term_months"], int)
            assert record["origination_date"] <= record["as_of_date"] == as_of
            assert record["outstanding_balance"] >= 0
            assert isinstance(record["delinquency"]["days_past_due"], int)


def test_loans_evolve_and_defaults_follow_risk(loan_book: GenerateSummary) -> None:
    history: dict[str, list[dict]] = {}
    for path in _files(loan_book.out, "loans"):
        for record in map(json.loads, _json_lines(path)):
            history.setdefault(record["loan_id"], []).append(record)
    for snapshots in history.values():
        statuses = [snapshot["status"] for snapshot in snapshots]
        if any(status in BAD_STATUSES for status in statuses):
            first_bad = next(i for i, s in enumerate(statuses) if s in BAD_STATUSES)
            assert set(statuses[first_bad:]) <= BAD_STATUSES
        if "paid_off" in statuses:
            assert statuses[-1] == "paid_off" and statuses.count("paid_off") == 1
            assert snapshots[-1]["outstanding_balance"] == 0
        if snapshots[0]["product"] != "credit_line":
            balances = [snapshot["outstanding_balance"] for snapshot in snapshots]
            assert balances == sorted(balances, reverse=True)
    assert len({len(snapshots) for snapshots in history.values()}) > 1

    scores = {record["customer_id"]: record["credit_score"]
              for record in map(json.loads, _json_lines(_files(loan_book.out, "customers")[0]))}
    defaulted = {loan for loan, snaps in history.items()
                 if any(snap["status"] in BAD_STATUSES for snap in snaps)}
    assert any(snap["status"] == "default" for snaps in history.values() for snap in snaps)
    assert 0.03 <= len(defaulted) / len(history) <= 0.25
    customer = {loan: snaps[0]["customer_id"] for loan, snaps in history.items()}
    bad = mean(scores[customer[loan]] for loan in defaulted)
    good = mean(scores[customer[loan]] for loan in history if loan not in defaulted)
    assert bad < good - 20


def _transaction_defects(out: Path) -> Counter[str]:
    """Classify every transactions row the way Silver would, one reason per row at most."""
    found: Counter[str] = Counter()
    for _, header, rows in _csv_files(out):
        seen: dict[str, tuple[str, ...]] = {}
        for row in rows:
            if len(row) != len(header):
                found["malformed_row"] += 1
                continue
            record = _records(row, header)
            values = tuple(record.values())
            key = record["trans_num"]
            if key and key in seen:
                found["exact_duplicate" if seen[key] == values else "conflicting_duplicate"] += 1
                continue
            seen[key] = values
            reasons = _row_reasons(record)
            assert len(reasons) <= 1, (reasons, row)
            found.update(reasons)
    return found


def _row_reasons(record: dict[str, str]) -> list[str]:
    reasons = []
    try:
        datetime.strptime(record["trans_date_trans_time"], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        reasons.append("bad_timestamp")
    if not is_valid_pan(record["cc_num"]):
        reasons.append("invalid_card_number")
    try:
        amount = float(record["amt"])
    except ValueError:
        reasons.append("bad_number")
    else:
        if not 0.01 <= amount <= 100_000:
            reasons.append("amount_out_of_range")
    if not record["trans_num"]:
        reasons.append("missing_key")
    if record["category"] not in CATEGORIES:
        reasons.append("unknown_category")
    if (any(abs(float(record[c])) > 90 for c in ("lat", "merch_lat"))
            or any(abs(float(record[c])) > 180 for c in ("long", "merch_long"))):
        reasons.append("bad_coordinates")
    return reasons


def _record_defects(out: Path, source: str) -> Counter[str]:
    """Classify every customers or loans line, one reason per line at most."""
    found: Counter[str] = Counter()
    for path in _files(out, source):
        seen: set[str] = set()
        for line in _json_lines(path):
            if line in seen:
                found["exact_duplicate"] += 1
                continue
            seen.add(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                found["malformed_row"] += 1
                continue
            reasons = _customer_reasons(record) if source == "customers" else _loan_reasons(record)
            assert len(reasons) <= 1, (reasons, line)
            found.update(reasons)
    return found


def _customer_reasons(record: dict) -> list[str]:
    reasons = []
    if not record["customer_id"]:
        reasons.append("missing_key")
    if not _is_date(record["dob"]):
        reasons.append("bad_date")
    if not isinstance(record["credit_score"], int):
        reasons.append("bad_number")
    elif not 300 <= record["credit_score"] <= 850 or record["annual_income"] < 0:
        reasons.append("out_of_range")
    return reasons


def _loan_reasons(record: dict) -> list[str]:
    reasons = []
    if "loan_id" not in record:
        reasons.append("missing_key")
    if record["status"] not in STATUSES or record["product"] not in PRODUCTS:
        reasons.append("invalid_value")
    if record["terms"]["principal"] <= 0 or record["outstanding_balance"] < 0:
        reasons.append("amount_out_of_range")
    if not _is_date(record["as_of_date"]):
        reasons.append("bad_date")
    return reasons


def test_injected_defects_are_counted_exactly(dirty: GenerateSummary) -> None:
    expected = {source: +Counter(kinds) for source, kinds in dirty.defects.items()}
    assert _transaction_defects(dirty.out) == expected["transactions"]
    assert _record_defects(dirty.out, "customers") == expected["customers"]
    assert _record_defects(dirty.out, "loans") == expected["loans"]
    assert all(count > 0 for count in dirty.defects["transactions"].values())


def test_defect_volume_follows_the_rate(dirty: GenerateSummary) -> None:
    total_defects = sum(sum(kinds.values()) for kinds in dirty.defects.values())
    total_rows = sum(dirty.rows.values())
    assert 0.6 * 0.05 * total_rows <= total_defects <= 1.4 * 0.05 * total_rows
    transactions = sum(dirty.defects["transactions"].values())
    assert 0.6 * 0.05 <= transactions / dirty.rows["transactions"] <= 1.4 * 0.05
    cut = [path for path, _, _ in _csv_files(dirty.out) if not _text(path).endswith("\n")]
    assert 1 <= len(cut) <= 15


def test_progress_reports_each_source(tmp_path: Path) -> None:
    messages: list[str] = []
    summary = generate(tmp_path, progress=messages.append, **SMALL)
    for source in ("customers", "transactions", "loans"):
        assert any(message.startswith(f"{source}:") for message in messages)
    assert any("30/60 days" in message for message in messages)
    assert "transactions: 60 files" in summary.describe()


@pytest.mark.parametrize("arguments", [
    {"customers": 0}, {"customers": -5}, {"months": 0}, {"months": 61},
    {"defect_rate": -0.1}, {"defect_rate": 0.51}, {"defect_rate": float("nan")},
    {"start": "2024-01-01"},
])
def test_invalid_arguments_are_rejected(tmp_path: Path, arguments: dict) -> None:
    with pytest.raises(ValueError) as error:
        generate(tmp_path, **arguments)
    assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())
