"""Landing files: listing, fingerprints and per-file checks, and reading them into Bronze text."""

from __future__ import annotations

import gzip
import hashlib
from datetime import date
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.config import SourceConfig, load_source
from lakehouse.errors import LandingError
from lakehouse.io.landing import (
    CORRUPT,
    LANDED_AT,
    SOURCE_FILE,
    LandingFile,
    fingerprint,
    landing_date,
    list_landing,
    read_raw,
)

PAN, PAN2 = "4111111111111111", "5555555555554444"
CSV_SOURCE = SourceConfig.model_validate({
    "name": "things", "entity": "things", "format": "csv", "natural_key": ["id"],
    "layout": ["id", {"name": "cc_num", "pii": "pan"}, "amt"],
    "fields": {"id": {"from": "id"}},
})
JSON_SOURCE = SourceConfig.model_validate({
    "name": "loans", "entity": "loans", "format": "json", "natural_key": ["loan_id"],
    "layout": ["loan_id", "terms.principal", "terms.term_months", "status"],
    "fields": {"loan_id": {"from": "loan_id"}},
})
CSV_COLUMNS = ["id", "cc_num", "amt", CORRUPT, SOURCE_FILE]
JSON_COLUMNS = ["loan_id", "terms__principal", "terms__term_months", "status", CORRUPT,
                SOURCE_FILE]
ROOT = Path(__file__).resolve().parents[2]


def land(root: Path, files: dict[str, str | bytes]) -> str:
    """Write ``files`` (path below the landing root -> content) and return the landing root."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return str(root)


def discover(root: str, source: SourceConfig) -> list[LandingFile]:
    return [fingerprint(source, entry) for entry in list_landing(root, source)]


def read(spark, tmp_path: Path, files: dict[str, str | bytes], source=CSV_SOURCE):
    root = land(tmp_path / "landing", files)
    return read_raw(spark, source, discover(root, source))


def table(spark, columns, *rows):
    return spark.createDataFrame(list(rows), ", ".join(f"`{c}` string" for c in columns))


# -- listing and fingerprints ------------------------------------------------------------------

def test_hidden_and_temporary_files_are_ignored(tmp_path):
    root = land(tmp_path, {"things/a.csv": "id\n1\n", "things/2024/01/b.csv": "id\n2\n",
                           "things/.c.csv.swp": "x", "things/_SUCCESS": "",
                           "things/_tmp/d.csv": "id\n3\n", "things/.staging/e.csv": "id\n4\n",
                           "other/f.csv": "id\n5\n"})
    assert [e.relative for e in list_landing(root, CSV_SOURCE)] == \
        ["things/2024/01/b.csv", "things/a.csv"]


def test_fingerprint_is_the_sha256_of_the_bytes(tmp_path):
    content = b"id,cc_num,amt\n1,4111111111111111,1.50\n"
    root = land(tmp_path, {"things/a.csv": content})
    (file,) = discover(root, CSV_SOURCE)
    assert (file.relative, file.size, file.problem) == ("things/a.csv", len(content), None)
    assert file.content_hash == hashlib.sha256(content).hexdigest()


def test_empty_file_is_flagged(tmp_path):
    root = land(tmp_path, {"things/empty.csv": b""})
    (file,) = discover(root, CSV_SOURCE)
    assert file.problem == "empty file"
    assert file.content_hash == hashlib.sha256(b"").hexdigest()


def test_valid_gzip_is_accepted_with_the_hash_of_the_compressed_bytes(tmp_path):
    packed = gzip.compress(b"id,cc_num,amt\n1,4111111111111111,1.50\n")
    root = land(tmp_path, {"things/a.csv.gz": packed})
    (file,) = discover(root, CSV_SOURCE)
    assert file.problem is None and file.compressed
    assert file.content_hash == hashlib.sha256(packed).hexdigest()


def test_gzip_of_several_members_is_accepted(tmp_path):
    packed = gzip.compress(b"id\n1\n") + gzip.compress(b"2\n")
    root = land(tmp_path, {"things/a.csv.gz": packed})
    assert discover(root, CSV_SOURCE)[0].problem is None


def test_corrupt_gzip_is_flagged(tmp_path):
    root = land(tmp_path, {"things/a.csv.gz": b"id,cc_num,amt\nnot gzip at all\n"})
    (file,) = discover(root, CSV_SOURCE)
    assert file.problem.startswith("corrupt gzip")
    assert file.content_hash == hashlib.sha256(b"id,cc_num,amt\nnot gzip at all\n").hexdigest()


def test_truncated_gzip_is_flagged(tmp_path):
    packed = gzip.compress(("id,cc_num,amt\n" + "1,4111111111111111,1.50\n" * 200).encode())
    root = land(tmp_path, {"things/a.csv.gz": packed[:len(packed) // 2],
                           "things/b.csv.gz": packed[:-4]})   # only the size trailer missing
    assert [f.problem for f in discover(root, CSV_SOURCE)] == \
        ["corrupt gzip: truncated stream"] * 2


def test_missing_landing_root_is_an_error(tmp_path):
    with pytest.raises(LandingError, match="landing folder not found"):
        list_landing(str(tmp_path / "absent"), CSV_SOURCE)


def test_source_without_a_folder_has_no_files(tmp_path):
    assert list_landing(land(tmp_path, {"other/a.csv": "x"}), CSV_SOURCE) == []


# -- reading CSV -------------------------------------------------------------------------------

def test_leading_index_column_lands_in_the_same_columns(spark, tmp_path):
    raw = read(spark, tmp_path, {
        "things/a.csv": f",id,cc_num,amt\n0,1,{PAN},1.50\n1,2,{PAN2},2.00\n",
        "things/b.csv": f"id,cc_num,amt\n3,{PAN},3.25\n",
    })
    assert raw.frame.columns[:5] == CSV_COLUMNS
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv"),
                     ("2", PAN2, "2.00", None, "things/a.csv"),
                     ("3", PAN, "3.25", None, "things/b.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_row_order=True,
                       ignore_nullable=True)
    assert raw.notes == {}


def test_reordered_columns_map_by_name(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f"amt,cc_num,id\n1.50,{PAN},1\n"})
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_nullable=True)


def test_missing_column_is_null_and_noted(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f"id,cc_num\n1,{PAN}\n"})
    expected = table(spark, CSV_COLUMNS, ("1", PAN, None, None, "things/a.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_nullable=True)
    assert raw.notes == {"things/a.csv": "missing columns ['amt']"}


def test_unknown_column_is_not_stored_and_noted(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f"id,cc_num,amt,cvv\n1,{PAN},1.50,123\n"})
    assert "cvv" not in raw.frame.columns
    # the CVV value is nowhere in the stored row (exact values: timestamps may contain "123")
    assert "123" not in list(raw.frame.first())
    assert raw.notes == {"things/a.csv": "unknown columns not stored ['cvv']"}


def test_file_with_a_byte_order_mark(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f"\ufeffid,cc_num,amt\n1,{PAN},1.50\n"})
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_nullable=True)
    assert raw.notes == {}


def test_row_with_too_few_fields_is_a_corrupt_record(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f"id,cc_num,amt\n1,{PAN},1.50\n2,{PAN2}\n"})
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv"),
                     ("2", PAN2, None, f"2,{PAN2}", "things/a.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_short_row_is_corrupt_in_a_file_with_an_index_column(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv": f",id,cc_num,amt\n0,1,{PAN},1.50\n1,2,{PAN2}\n"})
    corrupt = {r.id: r[CORRUPT] for r in raw.frame.collect()}
    assert corrupt == {"1": None, "2": f"1,2,{PAN2}"}


def test_short_row_is_corrupt_with_the_shipped_transactions_layout(spark, tmp_path):
    source = load_source(ROOT / "conf" / "sources" / "transactions.yaml")
    header = "," + ",".join(c.name for c in source.layout)
    good = ["0", "2024-01-15 10:00:00", PAN, "fraud_Kirlin", "misc_net", "4.97", "Ann", "Lee",
            "F", "1 Main St", "Reno", "NV", "89501", "39.5", "-119.8", "250000", "Nurse",
            "1990-05-17", "0b242abb623afc578575680df30655b9", "1325376018", "36.0", "-82.0", "0"]
    short = good[:10]
    raw = read(spark, tmp_path, {"transactions/2024-01-15.csv":
                                 "\n".join([header, ",".join(good), ",".join(short)]) + "\n"},
               source)
    rows = {r.trans_num: r for r in raw.frame.collect()}
    assert set(rows) == {"0b242abb623afc578575680df30655b9", None}
    assert rows["0b242abb623afc578575680df30655b9"][CORRUPT] is None
    assert rows[None][CORRUPT] == ",".join(short)
    assert rows[None].cc_num == PAN


def test_source_file_is_the_landing_relative_path(spark, tmp_path):
    names = ["things/day one.csv", "things/a+b.csv", "things/2024/José.csv", "things/x%20y.csv"]
    files = {name: f"id,cc_num,amt\n{i},{PAN},1.00\n" for i, name in enumerate(names)}
    raw = read(spark, tmp_path, files)
    found = {r.id: r[SOURCE_FILE] for r in raw.frame.collect()}
    assert found == {str(i): name for i, name in enumerate(names)}


def test_gzip_csv_is_read(spark, tmp_path):
    raw = read(spark, tmp_path, {"things/a.csv.gz": gzip.compress(
        f"id,cc_num,amt\n1,{PAN},1.50\n".encode())})
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv.gz"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_nullable=True)


def test_landed_at_is_the_file_modification_time(spark, tmp_path):
    root = land(tmp_path / "landing", {"things/a.csv": f"id,cc_num,amt\n1,{PAN},1.50\n"})
    (file,) = discover(root, CSV_SOURCE)
    landed = read_raw(spark, CSV_SOURCE, [file]).frame.select(LANDED_AT).first()[0]
    assert landed == file.modified.astimezone().replace(tzinfo=None)


def test_a_batch_without_readable_files_is_an_error(spark, tmp_path):
    root = land(tmp_path, {"things/empty.csv": b""})
    with pytest.raises(LandingError, match="no readable files"):
        read_raw(spark, CSV_SOURCE, discover(root, CSV_SOURCE))


def test_csv_without_a_header_row_maps_by_layout_position(spark, tmp_path):
    source = CSV_SOURCE.model_copy(update={"csv": CSV_SOURCE.csv.model_copy(
        update={"header": False})})
    raw = read(spark, tmp_path, {"things/a.csv": f"1,{PAN},1.50\n2,{PAN2},2.00\n"}, source)
    expected = table(spark, CSV_COLUMNS, ("1", PAN, "1.50", None, "things/a.csv"),
                     ("2", PAN2, "2.00", None, "things/a.csv"))
    assert_df_equality(raw.frame.select(CSV_COLUMNS), expected, ignore_row_order=True,
                       ignore_nullable=True)


# -- reading JSON ------------------------------------------------------------------------------

def test_nested_json_lines_land_in_flattened_columns(spark, tmp_path):
    raw = read(spark, tmp_path, {"loans/a.jsonl": (
        '{"loan_id": "L1", "terms": {"principal": 1000.5, "term_months": 36}, "status": "late"}\n'
        '{"loan_id": "L2", "terms": {"principal": "250"}, "extra": 1}\n')}, JSON_SOURCE)
    expected = table(spark, JSON_COLUMNS, ("L1", "1000.5", "36", "late", None, "loans/a.jsonl"),
                     ("L2", "250", None, None, None, "loans/a.jsonl"))
    assert_df_equality(raw.frame.select(JSON_COLUMNS), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_json_array_file_is_read(spark, tmp_path):
    raw = read(spark, tmp_path, {
        "loans/array.json": ' [\n  {"loan_id": "L1", "terms": {"term_months": 12}},\n'
                            '  {"loan_id": "L2", "status": "current"}\n]\n',
        "loans/lines.json": '{"loan_id": "L3"}\n',
    }, JSON_SOURCE)
    expected = table(spark, JSON_COLUMNS, ("L1", None, "12", None, None, "loans/array.json"),
                     ("L2", None, None, "current", None, "loans/array.json"),
                     ("L3", None, None, None, None, "loans/lines.json"))
    assert_df_equality(raw.frame.select(JSON_COLUMNS), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_truncated_json_line_is_a_corrupt_record(spark, tmp_path):
    broken = '{"loan_id": "L2", "terms": {"princ'
    raw = read(spark, tmp_path, {"loans/a.jsonl": '{"loan_id": "L1"}\n' + broken + "\n"},
               JSON_SOURCE)
    rows = raw.frame.select(JSON_COLUMNS).where(F.col(CORRUPT).isNotNull()).collect()
    assert [(r.loan_id, r[CORRUPT]) for r in rows] == [(None, broken)]
    assert raw.frame.count() == 2


def test_latin1_json_lines_are_read(spark, tmp_path):
    source = JSON_SOURCE.model_copy(update={"encoding": "iso8859-1"})
    raw = read(spark, tmp_path, {"loans/a.jsonl": '{"loan_id": "Léa"}\n'.encode("latin-1")},
               source)
    assert [r.loan_id for r in raw.frame.collect()] == ["Léa"]


@pytest.mark.parametrize(("relative", "expected"), [
    ("transactions/2024/03/transactions_2024-03-25.csv", date(2024, 3, 25)),
    ("transactions/2024/03/transactions_2024-03-07.csv.gz", date(2024, 3, 7)),
    ("loans/loans_2024-02-29.json", date(2024, 2, 29)),
    ("t/extract_2024-01-01_to_2024-01-05.csv", date(2024, 1, 5)),  # the last day it names
    ("t/2024/01/05/part-1.csv", date(2024, 1, 5)),  # a day's folder, when the name has none
    ("t/2024/02/30/part-1.csv", None),  # no such day
    ("t/late/correction.csv", None),
    ("t/12024-01-01.csv", None),  # digits glued to it: not a date
])
def test_a_landing_files_day_is_the_one_its_name_says(relative, expected):
    assert landing_date(relative) == expected
