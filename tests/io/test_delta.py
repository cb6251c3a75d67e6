"""The delta-rs implementation against real Spark and real Delta tables in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import LakehouseError, TableNotFoundError
from lakehouse.io.delta import (
    DeltaRsIO,
    HistoryEntry,
    MergeSpec,
    SchemaMismatchError,
    Target,
    delta_io,
    delta_jars_present,
    scanned_counts,
    scanned_to_pandas,
    snapshot,
)
from lakehouse.io.lake import TableId
from lakehouse.runtime.spark import spark_jobs_started

SCHEMA = T.StructType([
    T.StructField("id", T.StringType()),
    T.StructField("amount", T.DecimalType(12, 2)),
    T.StructField("ts", T.TimestampType()),
    T.StructField("day", T.DateType()),
    T.StructField("flag", T.BooleanType()),
    T.StructField("tags", T.ArrayType(T.StringType())),
    T.StructField("n", T.LongType()),
])
TABLE = TableId("silver", "things")
needs_delta_jars = pytest.mark.skip(
    reason="the Delta Lake jars for Spark cannot be downloaded on this machine (no Maven "
           "access); DeltaSparkIO runs on Glue and any Spark with them")


def rows(*specs):
    out = []
    for ident, amount, n in specs:
        out.append((ident, Decimal(amount) if amount is not None else None,
                    dt.datetime(2024, 1, 1, 12, 30, 15, 123456), dt.date(2024, 1, n % 28 + 1),
                    n % 2 == 0, [f"t{n}"], n))
    return out


def frame(spark, *specs):
    return spark.createDataFrame(rows(*specs), SCHEMA)


def test_uses_delta_rs_when_jars_absent(spark, delta, monkeypatch):
    import lakehouse.io.delta as module

    assert not module._loads_delta_classes(spark)
    assert not delta_jars_present(spark)
    assert isinstance(delta, DeltaRsIO)
    # the application's classpath is asked about once
    monkeypatch.setattr(module, "_loads_delta_classes", lambda _: pytest.fail("asked again"))
    assert not delta_jars_present(spark)
    assert isinstance(delta_io(spark, delta.lake), DeltaRsIO)


def test_create_append_read_round_trip(spark, delta):
    first = delta.write(frame(spark, ("a", "1.50", 1), ("b", "2.25", 2)), TABLE, run_id="r1")
    second = delta.write(frame(spark, ("c", None, 3)), TABLE, run_id="r2")
    assert (first.version, first.rows, second.version, second.rows) == (0, 2, 1, 1)
    expected = frame(spark, ("a", "1.50", 1), ("b", "2.25", 2), ("c", None, 3))
    assert_df_equality(delta.read(TABLE), expected, ignore_row_order=True, ignore_nullable=True)
    # the snapshot is a real Delta table that delta-rs itself reads
    native = DeltaTable(delta.uri(TABLE))
    assert native.version() == 1
    assert native.protocol().min_reader_version <= 3
    assert sorted(native.to_pyarrow_table().column("id").to_pylist()) == ["a", "b", "c"]


def test_stage_computes_a_frame_once_into_scratch_under_bronze(spark, delta, lake):
    source = frame(spark, ("a", "1.50", 1), ("b", "2.25", 2)).withColumn("r", F.rand())
    staged = delta.stage(source, "run-1", "batch")
    first = sorted(staged.collect())
    assert sorted(staged.collect()) == first, "read back, not recomputed (rand() would change)"
    assert [r.id for r in first] == ["a", "b"]
    assert [(f.name, f.dataType) for f in staged.schema] == \
        [(f.name, f.dataType) for f in source.schema]
    files = staged.inputFiles()
    assert files and all(f"{lake.staging_root}/run-1/batch-" in f for f in files)
    assert lake.staging_root == f"{lake.root}/bronze/_staging"  # where card numbers may be
    other = delta.stage(source, "run-2", "batch")
    lake.clear_staging("run-1")
    assert not (Path(lake.staging_root) / "run-1").exists()
    assert other.count() == 2, "another run's scratch is left alone"
    lake.clear_staging("run-2")
    assert not Path(lake.staging_root).exists(), "the empty scratch root goes too"


def test_time_travel_by_version_and_timestamp(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    after_first = dt.datetime.now(dt.UTC)
    delta.write(frame(spark, ("b", "2.00", 2)), TABLE, mode="overwrite")
    assert [r.id for r in delta.read(TABLE).collect()] == ["b"]
    assert [r.id for r in delta.read(TABLE, version=0).collect()] == ["a"]
    assert [r.id for r in delta.read(TABLE, as_of=after_first).collect()] == ["a"]


def test_overwrite_replaces_and_history_carries_run_ids(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE, run_id="run-1", step="load")
    delta.write(frame(spark, ("b", "2.00", 2), ("c", "3.00", 3)), TABLE, mode="overwrite",
                run_id="run-2", step="reload")
    assert delta.read(TABLE).count() == 2
    history = delta.history(TABLE)
    assert [(h.version, h.run_id, h.step, h.row_changes()) for h in history] == [
        (1, "run-2", "reload", "+2"), (0, "run-1", "load", "+1")]


def test_history_says_what_each_commit_did_to_rows(spark, delta):
    """Spark-written files committed by delta-rs (their rows in the commit's metadata), a merge
    (delta-rs' metrics) and a delete; delta-spark's spelling of the same metrics."""
    delta.write(frame(spark, *((f"k{i}", "1.00", i) for i in range(1500))), TABLE)
    delta.merge(frame(spark, ("k1", "9.00", 1), ("k2", "8.00", 2), ("new", "1.00", 9)), TABLE,
                MergeSpec(keys=("id",), update_when="true"))
    delta.delete(TABLE, "id IN ('k3', 'k4', 'k5')")
    assert [h.row_changes() for h in delta.history(TABLE)] == ["-3", "+1 ~2", "+1,500"]
    spark_merge = HistoryEntry(4, dt.datetime.now(dt.UTC), "MERGE", None, None, {
        "numTargetRowsInserted": "0", "numTargetRowsUpdated": "7",
        "numTargetRowsDeleted": "0", "numOutputRows": "900"})
    spark_write = HistoryEntry(5, dt.datetime.now(dt.UTC), "WRITE", None, None,
                               {"numOutputRows": "12"})
    vacuum = HistoryEntry(6, dt.datetime.now(dt.UTC), "VACUUM END", None, None,
                          {"numDeletedFiles": "4"})
    assert [e.row_changes() for e in (spark_merge, spark_write, vacuum)] == ["~7", "+12", ""]


def test_empty_append_commits_nothing(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    result = delta.write(spark.createDataFrame([], SCHEMA), TABLE)
    assert result.version is None
    assert delta.version(TABLE) == 0


def _files_outside_the_log(delta, table):
    """Parquet files in the table's folder that no commit of its log added (written, never
    committed, left behind), and what the run's scratch folders hold."""
    root = Path(delta.uri(table))
    named = {(root / json.loads(line)["add"]["path"]).resolve()
             for commit in (root / "_delta_log").glob("*.json")
             for line in commit.read_text().splitlines() if '"add"' in line}
    stray = {p.resolve() for p in root.rglob("*.parquet")} - named
    scratch = Path(delta.lake.staging_root)
    return sorted(stray), sorted(scratch.rglob("*.parquet")) if scratch.exists() else []


def test_merge_inserts_updates_and_skips_unchanged(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2)), TABLE)
    spec = MergeSpec(keys=("id",), update_when="t.amount <> s.amount")
    result = delta.merge(frame(spark, ("a", "1.00", 1), ("b", "9.99", 2), ("c", "3.00", 3)),
                         TABLE, spec, run_id="m1")
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    got = {r.id: r.amount for r in delta.read(TABLE).collect()}
    assert got == {"a": Decimal("1.00"), "b": Decimal("9.99"), "c": Decimal("3.00")}
    version = delta.version(TABLE)
    replay = delta.merge(frame(spark, ("b", "9.99", 2)), TABLE, spec, run_id="m2")
    assert (replay.inserted, replay.updated, replay.unchanged) == (0, 0, 1)
    assert delta.version(TABLE) == version, "a merge that changes nothing commits nothing"
    assert delta.read(TABLE).count() == 3
    assert _files_outside_the_log(delta, TABLE) == ([], []), "the merge's source is removed"


def test_merge_of_new_keys_only_appends(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2)), TABLE)
    spec = MergeSpec(keys=("id",), update_when="t.amount <> s.amount")
    result = delta.merge(frame(spark, ("c", "3.00", 3), (None, "4.00", 4)), TABLE, spec,
                         run_id="m1")
    assert (result.version, result.inserted, result.updated) == (1, 2, 0)
    assert sorted((r.id or "-", str(r.amount)) for r in delta.read(TABLE).collect()) == [
        ("-", "4.00"), ("a", "1.00"), ("b", "2.00"), ("c", "3.00")]
    assert delta.history(TABLE, 1)[0].operation != "MERGE", "no target file is read"
    # the source, written once inside the table, is what was committed: nothing else is left
    assert _files_outside_the_log(delta, TABLE) == ([], [])
    nothing = delta.merge(spark.createDataFrame([], SCHEMA), TABLE, spec)
    assert (nothing.version, nothing.source_rows) == (None, 0)
    assert delta.version(TABLE) == 1
    assert _files_outside_the_log(delta, TABLE) == ([], [])


def test_appended_since_gives_the_rows_of_appends_and_insert_only_merges(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2)), TABLE)  # v0
    delta.write(frame(spark, ("c", "3.00", 3)), TABLE)  # v1: append
    spec = MergeSpec(keys=("id",), update_when="t.amount <> s.amount")
    delta.merge(frame(spark, ("d", "4.00", 4)), TABLE, spec)  # v2: new keys only
    assert_df_equality(delta.appended_since(TABLE, 0, 2),
                       frame(spark, ("c", "3.00", 3), ("d", "4.00", 4)),
                       ignore_row_order=True, ignore_nullable=True)
    assert [r.id for r in delta.appended_since(TABLE, 1, 2).collect()] == ["d"]
    assert delta.appended_since(TABLE, 2, 2).count() == 0
    assert delta.appended_since(TABLE, 3, 2) is None


@pytest.mark.parametrize("change", ["update", "delete", "overwrite"])
def test_appended_since_is_none_once_a_row_may_have_changed(spark, delta, change):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2)), TABLE)  # v0
    delta.write(frame(spark, ("c", "3.00", 3)), TABLE)  # v1
    if change == "update":
        delta.merge(frame(spark, ("b", "9.99", 2), ("e", "5.00", 5)), TABLE,
                    MergeSpec(keys=("id",), update_when="t.amount <> s.amount"))
    elif change == "delete":
        delta.delete(TABLE, "id = 'a'")
    else:
        delta.write(frame(spark, ("a", "1.00", 1)), TABLE, "overwrite")
    assert delta.version(TABLE) == 2
    assert delta.appended_since(TABLE, 1, 2) is None
    assert delta.appended_since(TABLE, 0, 2) is None
    assert [r.id for r in delta.appended_since(TABLE, 0, 1).collect()] == ["c"]


def test_merge_creates_missing_table(spark, delta):
    result = delta.merge(frame(spark, ("a", "1.00", 1)), TABLE, MergeSpec(keys=("id",)))
    assert (result.version, result.inserted) == (0, 1)


def test_schema_mismatch_is_a_clear_error(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    wrong = frame(spark, ("b", "2.00", 2)).withColumnRenamed("n", "count")
    with pytest.raises(SchemaMismatchError, match=r"missing \['n'\].*unexpected \['count'\]"):
        delta.write(wrong, TABLE)


def test_missing_table_is_a_clear_error(delta):
    with pytest.raises(TableNotFoundError, match=r"silver\.things does not exist"):
        delta.read(TABLE)
    assert delta.version(TABLE) is None


def test_file_statistics_match_delta_rs_own(spark, delta, tmp_path):
    """Our footer-derived stats must equal what delta-rs writes for the same data."""
    df = frame(spark, ("a", "1.00", 5), ("b", None, 2), (None, "3.00", 9)).coalesce(1)
    delta.write(df, TABLE)
    log = (tmp_path / "lake" / "silver" / "things" / "_delta_log" / "00000000000000000000.json")
    adds = [json.loads(line)["add"] for line in log.read_text().splitlines() if '"add"' in line]
    ours = json.loads(adds[0]["stats"])
    reference = tmp_path / "reference"
    write_deltalake(str(reference), df.toPandas(), mode="overwrite")
    ref_log = reference / "_delta_log" / "00000000000000000000.json"
    ref = [json.loads(line)["add"] for line in ref_log.read_text().splitlines()
           if '"add"' in line]
    theirs = json.loads(ref[0]["stats"])
    assert ours["numRecords"] == theirs["numRecords"] == 3
    assert ours["nullCount"]["id"] == theirs["nullCount"]["id"] == 1
    assert ours["nullCount"]["amount"] == theirs["nullCount"]["amount"] == 1
    for column in ("id", "n", "day"):
        assert ours["minValues"][column] == theirs["minValues"][column], column
        assert ours["maxValues"][column] == theirs["maxValues"][column], column
    # timestamps are rounded outwards to milliseconds so pruning can never drop a row
    assert ours["minValues"]["ts"] == "2024-01-01T12:30:15.123Z"
    assert ours["maxValues"]["ts"] == "2024-01-01T12:30:15.124Z"


@pytest.mark.delta_spark
@needs_delta_jars
def test_delta_spark_reads_what_delta_rs_wrote(spark, lake):
    from lakehouse.io.delta import DeltaSparkIO

    rs = DeltaRsIO(spark, lake)
    rs.write(frame(spark, ("a", "1.00", 1)), TABLE)
    assert DeltaSparkIO(spark, lake).read(TABLE).count() == 1


@pytest.mark.delta_spark
@needs_delta_jars
def test_delta_spark_appended_since(spark, lake):
    from lakehouse.io.delta import DeltaSparkIO

    io = DeltaSparkIO(spark, lake)
    io.write(frame(spark, ("a", "1.00", 1)), TABLE)
    io.merge(frame(spark, ("b", "2.00", 2)), TABLE, MergeSpec(keys=("id",)))
    assert [r.id for r in io.appended_since(TABLE, 0, 1).collect()] == ["b"]
    io.merge(frame(spark, ("a", "9.00", 1)), TABLE, MergeSpec(keys=("id",)))
    assert io.appended_since(TABLE, 0, 2) is None


def test_delete_by_predicate(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2), ("c", "3.00", 3)), TABLE)
    version = delta.delete(TABLE, "id IN ('a', 'c')", run_id="d1")
    assert version == 1
    assert [r.id for r in delta.read(TABLE).collect()] == ["b"]
    assert delta.delete(TABLE, "id = 'zzz'") is None, "deleting nothing commits nothing"
    assert delta.version(TABLE) == 1


def _day_ranges(delta, table=TABLE) -> dict[str, tuple[dt.date, dt.date]]:
    """Each data file of the table's snapshot: its first and last ``day`` (from the log)."""
    actions = pa.table(DeltaTable(delta.uri(table)).get_add_actions(flatten=True)).to_pylist()
    return {a["path"]: (a["min.day"], a["max.day"]) for a in actions}


def test_cluster_by_writes_a_file_per_value_range(spark, delta):
    # eight rows over four days, in an order that mixes the days
    delta.write(frame(spark, *((str(n), "1.00", n % 4) for n in range(8))).repartition(3),
                TABLE, cluster_by="day")
    ranges = sorted(_day_ranges(delta).values())
    assert len(ranges) == 4 and all(first == last for first, last in ranges), ranges
    assert delta.read(TABLE).count() == 8


def test_replace_where_rewrites_only_the_files_holding_matching_rows(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2), ("c", "3.00", 3)), TABLE,
                cluster_by="day")
    before = _day_ranges(delta)
    result = delta.write(frame(spark, ("c", "30.00", 3), ("d", "4.00", 4)), TABLE,
                         mode="overwrite", replace_where="day >= '2024-01-04'", run_id="r2",
                         metadata={"as_of": "2024-01-05"})
    assert (result.version, result.rows) == (1, 2)
    assert sorted((r.id, str(r.amount)) for r in delta.read(TABLE).collect()) == [
        ("a", "1.00"), ("b", "2.00"), ("c", "30.00"), ("d", "4.00")]
    after = _day_ranges(delta)
    kept = [path for path, days in before.items() if days[1] < dt.date(2024, 1, 4)]
    assert len(kept) == 2 and all(after[path] == before[path] for path in kept), \
        "the files of days before the predicate's are not rewritten"
    assert len(after) == 3
    last = delta.history(TABLE, 1)[0]
    assert (last.run_id, last.metadata["lakehouse.as_of"],
            last.metadata["lakehouse.replace_where"]) == ("r2", "2024-01-05",
                                                         "day >= '2024-01-04'")


def test_replace_where_keeps_the_other_rows_of_a_file_it_rewrites(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 5)).coalesce(1), TABLE)
    assert len(_day_ranges(delta)) == 1, "one file, holding both sides of the predicate"
    delta.write(frame(spark, ("c", "3.00", 6)), TABLE, mode="overwrite",
                replace_where="day >= '2024-01-04'")
    assert sorted(r.id for r in delta.read(TABLE).collect()) == ["a", "c"]
    assert delta.version(TABLE) == 1


def test_replace_where_refuses_rows_outside_its_predicate(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 5)), TABLE)
    with pytest.raises(LakehouseError, match="do not match the predicate"):
        delta.write(frame(spark, ("x", "9.00", 1)), TABLE, mode="overwrite",
                    replace_where="day >= '2024-01-04'")
    assert delta.version(TABLE) == 0
    assert sorted(r.id for r in delta.read(TABLE).collect()) == ["a", "b"]
    with pytest.raises(ValueError, match="needs mode 'overwrite'"):
        delta.write(frame(spark, ("x", "9.00", 5)), TABLE, replace_where="day >= '2024-01-04'")


@pytest.mark.delta_spark
@needs_delta_jars
def test_delta_spark_replace_where(spark, lake):
    from lakehouse.io.delta import DeltaSparkIO

    io = DeltaSparkIO(spark, lake)
    io.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 5)), TABLE, cluster_by="day")
    io.write(frame(spark, ("c", "3.00", 5)), TABLE, mode="overwrite",
             replace_where="day >= '2024-01-04'")
    assert sorted(r.id for r in io.read(TABLE).collect()) == ["a", "c"]
    with pytest.raises(LakehouseError, match="do not match the predicate"):
        io.write(frame(spark, ("x", "9.00", 1)), TABLE, mode="overwrite",
                 replace_where="day >= '2024-01-04'")


def test_commit_metadata_is_kept_in_history(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE, run_id="r9", step="gold",
                metadata={"inputs": '{"silver.x": 3}'})
    entry = delta.history(TABLE, 1)[0]
    assert entry.metadata == {"lakehouse.run_id": "r9", "lakehouse.step": "gold",
                              "lakehouse.inputs": '{"silver.x": 3}', "lakehouse.rows_added": "1"}


def test_card_tokens_stay_dictionary_encoded(spark, delta, lake):
    # 20 k distinct 64-character tokens (1.3 MB of dictionary), each about four times, in no
    # order: past Parquet's default 1 MB dictionary the column is written in full ('PLAIN')
    import pyarrow.parquet as pq

    card = F.pmod(F.hash("id"), F.lit(20_000)).cast("string")
    tokens = spark.range(80_000).select(F.sha2(card, 256).alias("card_token"))
    delta.write(tokens.coalesce(1), TABLE)
    files = list(Path(lake.uri(TABLE)).glob("**/*.parquet"))
    assert files
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            encodings = meta.row_group(group).column(0).encodings
            assert "PLAIN" not in encodings, (path.name, encodings)


def _column_encodings(folder: Path) -> set[str]:
    import pyarrow.parquet as pq

    found = set()
    files = list(folder.glob("**/*.parquet"))
    assert files
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            found |= set(meta.row_group(group).column(0).encodings)
    return found


def test_bronze_files_are_written_without_dictionaries(spark, delta, lake):
    # the parse reads Bronze's text several times a row; a dictionary-encoded value is decoded
    # at every read, so Bronze is written plain. Other layers keep their dictionaries.
    text = spark.range(2_000).select(F.concat(F.lit("category_"), (F.col("id") % 7).cast(
        "string")).alias("category")).coalesce(1)
    bronze, silver = TableId("bronze", "things"), TableId("silver", "things")
    delta.write(text, bronze)
    delta.write(text, silver)
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert not _column_encodings(Path(lake.uri(bronze))) & dictionary
    assert _column_encodings(Path(lake.uri(silver))) & dictionary
    assert delta.read(bronze).count() == 2_000


RECORDS = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("at", T.TimestampType()),
    T.StructField("seconds", T.DoubleType()),
    T.StructField("rows", T.LongType()),
    T.StructField("ok", T.BooleanType()),
    T.StructField("note", T.StringType()),
])
UTC_NOON = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_records_are_appended_without_spark_and_read_back_as_spark_wrote_them(spark, delta):
    table = TableId("ops", "things")
    first = delta.append_records([("r1", UTC_NOON, 1.5, 10, True, None)], RECORDS, table,
                                 run_id="r1", step="ops")
    # the table exists now: the next records are written by delta-rs, not by a Spark job
    jobs = spark_jobs_started(spark)
    second = delta.append_records(
        [("r2", UTC_NOON.replace(tzinfo=None).astimezone(), 0.25, 3, False, "naive, local"),
         ("r2", UTC_NOON + dt.timedelta(hours=1), 2.0, 0, None, "ünïcode")],
        RECORDS, table, run_id="r2", step="ops")
    assert spark_jobs_started(spark) == jobs
    assert (first.version, second.version, second.rows, second.files) == (0, 1, 2, 1)
    assert delta.history(table, 1)[0].metadata == {"lakehouse.run_id": "r2",
                                                   "lakehouse.step": "ops"}
    records = sorted(delta.read_records(table, RECORDS.fieldNames()),
                     key=lambda r: (r["run_id"], r["at"]))
    assert [(r["run_id"], r["at"], r["seconds"], r["rows"], r["ok"], r["note"])
            for r in records] == [
        ("r1", UTC_NOON, 1.5, 10, True, None), ("r2", UTC_NOON, 0.25, 3, False, "naive, local"),
        ("r2", UTC_NOON + dt.timedelta(hours=1), 2.0, 0, None, "ünïcode")]
    # Spark reads the delta-rs file as it reads its own: the same instants
    seen = {r.note: r.at for r in delta.read(table).collect()}
    assert seen["naive, local"] == seen[None] == UTC_NOON.astimezone().replace(tzinfo=None)
    assert delta.append_records([], RECORDS, table).version is None, "nothing to append"


def test_records_of_another_shape_are_a_clear_error(spark, delta):
    table = TableId("ops", "things")
    delta.append_records([("r1", UTC_NOON, 1.5, 10, True, None)], RECORDS, table)
    narrower = T.StructType(RECORDS.fields[:-1])
    with pytest.raises(SchemaMismatchError, match="missing \\['note'\\]"):
        delta.append_records([("r1", UTC_NOON, 1.5, 10, True)], narrower, table)
    assert delta.version(table) == 0


def test_stage_all_stages_frames_together_and_raises_a_failure_after_all_ended(spark, delta):
    frames = {"a": spark.range(10), "b": spark.range(5).withColumn("x", F.col("id") * 2)}
    staged = delta.stage_all(frames, "r1", concurrency=2)
    assert staged["a"].count() == 10
    assert sorted(r.x for r in staged["b"].collect()) == [0, 2, 4, 6, 8]
    failing = {"fine": spark.range(3),
               "broken": spark.range(3).select(F.raise_error(F.lit("no such luck")))}
    with pytest.raises(Exception, match="no such luck"):
        delta.stage_all(failing, "r2", concurrency=2)
    assert delta.stage_all({}, "r3", concurrency=2) == {}


def _log_paths(delta, table=TABLE) -> set[str]:
    return {a["path"] for a in pa.table(DeltaTable(delta.uri(table)).get_add_actions(
        flatten=True)).to_pylist()}


def test_bounds_of_a_prepared_frame_come_from_its_files_footers(spark, delta):
    # days 2024-01-(n % 28 + 1): 6, 3, 18; nulls in a partition of their own
    values = frame(spark, ("a", "1.00", 5), ("b", "2.00", 30), ("c", "3.00", 17))
    nulls = spark.createDataFrame([("d", None, None, None, None, None, None)], SCHEMA)
    prepared = delta.prepare(values.repartition(2).union(nulls), "r1", "bounds")
    nothing = delta.prepare(nulls, "r1", "nulls")
    empty = delta.prepare(values.where("n < 0"), "r1", "empty")
    started = spark_jobs_started(spark)
    assert delta.bounds(prepared, "day") == (dt.date(2024, 1, 3), dt.date(2024, 1, 18))
    assert delta.bounds(prepared, "n") == (5, 30)
    assert delta.bounds(nothing, "day") == (None, None)
    assert delta.bounds(empty, "n") == (None, None)
    assert spark_jobs_started(spark) == started, "read from the footers, without a Spark job"
    with pytest.raises(ValueError, match="dates and integers only"):
        delta.bounds(prepared, "id")  # a string's footer bounds may be truncated


def test_bounds_without_footer_statistics_are_computed_by_spark(spark, delta, tmp_path):
    import pyarrow.parquet as pq

    from lakehouse.io.delta import Prepared

    folder = tmp_path / "written-elsewhere"
    folder.mkdir()
    pq.write_table(pa.table({"day": [dt.date(2024, 2, 9), None, dt.date(2024, 1, 4)],
                             "n": pa.array([7, 2, None], pa.int64())}),
                   folder / "part-0.parquet", write_statistics=False)
    prepared = Prepared(spark.read.parquet(str(folder)), None, str(folder))
    started = spark_jobs_started(spark)
    assert delta.bounds(prepared, "day") == (dt.date(2024, 1, 4), dt.date(2024, 2, 9))
    assert delta.bounds(prepared, "n") == (2, 7)
    assert spark_jobs_started(spark) > started


def test_a_prepared_frame_is_gated_then_committed_as_the_files_it_was_read_from(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    prepared = delta.prepare(frame(spark, ("b", "2.00", 2), ("c", "3.00", 3)), "r1", "gold-x",
                             Target(TABLE, "overwrite"))
    # written inside the table's folder, in no commit yet: the table is as it was
    assert delta.version(TABLE) == 0
    assert [r.id for r in delta.read(TABLE).collect()] == ["a"]
    assert sorted(r.id for r in prepared.frame.collect()) == ["b", "c"]
    assert delta.rows(prepared) == 2
    files = {Path(p).name for p in prepared.frame.inputFiles()}
    result = delta.commit(prepared, run_id="r1", step="gold", metadata={"as_of": "2024-01-03"})
    assert (result.version, result.rows) == (1, 2)
    assert sorted(r.id for r in delta.read(TABLE).collect()) == ["b", "c"]
    assert {Path(p).name for p in _log_paths(delta)} == files, "the very files, not a copy"
    assert delta.history(TABLE, 1)[0].metadata["lakehouse.as_of"] == "2024-01-03"
    assert _files_outside_the_log(delta, TABLE)[0] == []


def test_a_discarded_frame_leaves_nothing_behind(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    prepared = delta.prepare(frame(spark, ("b", "2.00", 2)), "r1", "gold-x", Target(TABLE))
    assert _files_outside_the_log(delta, TABLE)[0], "the prepared files are in the folder"
    delta.discard(prepared)
    assert _files_outside_the_log(delta, TABLE)[0] == []
    assert delta.version(TABLE) == 0 and [r.id for r in delta.read(TABLE).collect()] == ["a"]
    with pytest.raises(ValueError, match="without a target"):
        delta.commit(delta.prepare(frame(spark, ("c", "1.00", 3)), "r1", "scratch"))


def test_a_prepared_frame_of_another_shape_is_refused_before_anything_is_written(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    with pytest.raises(SchemaMismatchError, match="missing \\['n'\\]"):
        delta.prepare(frame(spark, ("b", "2.00", 2)).drop("n"), "r1", "x", Target(TABLE))
    assert _files_outside_the_log(delta, TABLE)[0] == []


def test_a_replace_where_commit_removes_whole_files_without_rewriting_them(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, *((str(n), "1.00", n % 3 + 1) for n in range(9))), TABLE,
                cluster_by="day")
    before = _day_ranges(delta)
    assert len(before) == 3
    prepared = delta.prepare(frame(spark, ("x", "5.00", 3), ("y", "6.00", 4)), "r1", "x",
                             Target(TABLE, "overwrite", "day >= '2024-01-04'", "day"))
    new = {Path(p).name for p in prepared.frame.inputFiles()}
    delta.commit(prepared)
    after = _day_ranges(delta)
    # the file of 2024-01-04 went whole: nothing was rewritten, only the prepared files added
    assert {Path(p).name for p in set(after) - set(before)} == new
    assert sorted(after.values()) == [(dt.date(2024, 1, d), dt.date(2024, 1, d))
                                      for d in (2, 3, 4, 5)]
    assert sorted(r.id for r in delta.read(TABLE).where("day >= '2024-01-04'").collect()) \
        == ["x", "y"]
    assert delta.read(TABLE).count() == 6 + 2


def test_a_refused_replace_where_commit_removes_its_files(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 5)), TABLE)
    prepared = delta.prepare(frame(spark, ("x", "9.00", 1)), "r1", "x",
                             Target(TABLE, "overwrite", "day >= '2024-01-04'"))
    with pytest.raises(LakehouseError, match="do not match the predicate"):
        delta.commit(prepared)
    assert delta.version(TABLE) == 0
    assert _files_outside_the_log(delta, TABLE)[0] == []


def test_cluster_by_gives_each_value_its_file_whatever_their_sizes(spark, delta):
    # 200, 40 and 5 rows of three days: one file each (a range per value sampled)
    sizes = {1: 200, 2: 40, 3: 5}
    specs = [(f"{d}-{i}", "1.00", d) for d, n in sizes.items() for i in range(n)]
    delta.write(frame(spark, *specs).repartition(4), TABLE, cluster_by="day")
    ranges = sorted(_day_ranges(delta).values())
    assert ranges == [(dt.date(2024, 1, d + 1),) * 2 for d in sizes], ranges


def test_prepare_all_discards_the_prepared_files_when_one_fails(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    other = TableId("gold", "other")
    delta.write(frame(spark, ("a", "1.00", 1)), other)
    failing = frame(spark, ("b", "2.00", 2)).withColumn(
        "id", F.raise_error(F.lit("no such luck")).cast("string"))
    for concurrency in (1, 2):
        with pytest.raises(Exception, match="no such luck"):
            delta.prepare_all({"fine": (frame(spark, ("c", "3.00", 3)), Target(other)),
                               "broken": (failing, Target(TABLE))}, "r1", concurrency)
        assert _files_outside_the_log(delta, other)[0] == []
        assert _files_outside_the_log(delta, TABLE)[0] == []


def test_prepare_later_gives_one_frame_while_the_others_go_on(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    later = delta.prepare_later({"lookup": (frame(spark, ("b", "2.00", 2)), None),
                                 "table": (frame(spark, ("c", "3.00", 3)), Target(TABLE))},
                                "r1")
    assert [r.id for r in later.take("lookup").frame.collect()] == ["b"]
    assert later.take("nothing") is None  # not prepared under that label
    prepared = later.result()
    assert set(prepared) == {"table"}  # what was taken is no longer among the rest
    with pytest.raises(ValueError, match="taken already"):
        later.result()
    later.discard()  # taken: nothing is thrown away
    delta.commit(prepared["table"])
    assert [r.id for r in delta.read(TABLE).collect()] == ["c"]


def test_prepare_later_discards_what_it_prepared_when_asked_or_when_one_fails(spark, delta):
    from lakehouse.io.delta import Target

    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    other = TableId("gold", "other")
    delta.write(frame(spark, ("a", "1.00", 1)), other)
    unwanted = delta.prepare_later({"fine": (frame(spark, ("c", "3.00", 3)), Target(other))},
                                   "r1")
    unwanted.discard()
    assert _files_outside_the_log(delta, other)[0] == []
    with pytest.raises(ValueError, match="taken already"):
        unwanted.result()
    failing = frame(spark, ("b", "2.00", 2)).withColumn(
        "id", F.raise_error(F.lit("no such luck")).cast("string"))
    def both():
        return {"fine": (frame(spark, ("c", "3.00", 3)), Target(other)),
                "broken": (failing, Target(TABLE))}

    # the failure taken alone, the rest thrown away (as a caller does on an error)
    later = delta.prepare_later(both(), "r2", 2)
    with pytest.raises(Exception, match="no such luck"):
        later.take("broken")
    later.discard()
    assert _files_outside_the_log(delta, other)[0] == []
    # the failure among the rest: their files are thrown away
    later = delta.prepare_later(both(), "r3", 2)
    with pytest.raises(Exception, match="no such luck"):
        later.result()
    assert _files_outside_the_log(delta, other)[0] == []
    assert _files_outside_the_log(delta, TABLE)[0] == []
    assert [r.id for r in delta.read(other).collect()] == ["a"]


def test_a_discarded_write_to_a_new_table_leaves_no_folder(spark, delta, tmp_path):
    from lakehouse.io.delta import Target

    new = TableId("silver", "brand_new")
    prepared = delta.prepare(frame(spark, ("c", "3.00", 3)), "r1", "x", Target(new, "append"))
    folder = Path(delta.uri(new))
    assert folder.is_dir() and not delta.exists(new)
    delta.discard(prepared)
    assert not folder.exists()
    # nor a commit that adds no rows to a table that has some
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    empty = delta.prepare(frame(spark, ("a", "1.00", 1)).where("false"), "r1", "y",
                          Target(TABLE, "append"))
    assert delta.commit(empty).version is None
    assert _files_outside_the_log(delta, TABLE)[0] == []
    assert [p for p in Path(delta.uri(TABLE)).iterdir() if p.is_dir()
            and p.name != "_delta_log" and not any(p.glob("*.parquet"))] == []


def _base_preparing(delta):
    """``delta`` preparing files as the base ``DeltaIO`` does (what DeltaSparkIO inherits)."""
    from lakehouse.io.delta import DeltaIO

    class BasePreparing(DeltaRsIO):
        _prepared_files = DeltaIO._prepared_files
        discard = DeltaIO.discard

    return BasePreparing(delta.spark, delta.lake)


def test_the_base_prepare_stages_in_scratch_and_commit_writes_as_its_target_says(spark, delta):
    """What DeltaSparkIO (Glue) inherits: the frame is staged in the run's scratch folder and
    committed by ``write`` with the target's mode, predicate and clustering (run here with
    delta-rs' ``write`` underneath)."""
    from lakehouse.io.delta import DeltaIO, Target

    base = _base_preparing(delta)
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 5)), TABLE, cluster_by="day")
    target = Target(TABLE, "overwrite", "day >= '2024-01-04'", "day")
    prepared = base.prepare(frame(spark, ("c", "3.00", 5), ("d", "4.00", 6)), "r1", "gold-x",
                            target)
    assert prepared.folder.startswith(f"{delta.lake.staging_root}/r1/gold-x-")
    assert delta.rows(prepared) == 2 and delta.version(TABLE) == 0
    base.discard(prepared)  # nothing to remove: scratch goes with the run's
    assert sorted(r.id for r in prepared.frame.collect()) == ["c", "d"]
    result = DeltaIO.commit(delta, prepared, run_id="r1", step="gold")
    assert (result.version, result.rows) == (1, 2)
    assert sorted(r.id for r in delta.read(TABLE).collect()) == ["a", "c", "d"]
    assert delta.history(TABLE, 1)[0].metadata["lakehouse.replace_where"] == target.replace_where
    with pytest.raises(ValueError, match="needs mode 'overwrite'"):
        base.prepare(frame(spark, ("e", "1.00", 7)), "r1", "gold-y",
                     Target(TABLE, "append", "day >= '2024-01-04'"))


def test_a_prepared_frame_says_how_long_computing_it_took(spark, delta):
    from lakehouse.io.delta import Target

    slow = frame(spark, ("a", "1.00", 1)).withColumn(
        "id", F.reflect(F.lit("java.lang.Thread"), F.lit("sleep"), F.lit(300).cast("long"))
        .cast("string"))
    for io in (delta, _base_preparing(delta)):
        prepared = io.prepare(slow, "r1", "slow", Target(TABLE))
        assert prepared.seconds >= 0.3, prepared.seconds
        io.discard(prepared)


# -- maintenance: vacuum and compaction -----------------------------------------------------------


def _table_files(lake, table=TABLE) -> set[str]:
    """Every file in the table's folder but its log, relative to the folder."""
    root = Path(lake.uri(table))
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "_delta_log" not in p.parts}


def test_vacuum_removes_unnamed_and_replaced_files_past_the_retention(spark, delta, lake):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE, run_id="r1")
    first = set(delta.read(TABLE).inputFiles())
    delta.write(frame(spark, ("b", "2.00", 2)), TABLE, mode="overwrite", run_id="r2")
    # what a run killed between computing a table's files and committing them leaves
    orphan = delta.prepare(frame(spark, ("c", "3.00", 3)), "r3", "gold-things",
                           Target(TABLE, mode="append"))
    before = _table_files(lake)
    orphaned = {f for f in before if f.startswith(orphan.folder.rsplit("/", 1)[-1])}
    assert orphaned

    young = delta.vacuum(TABLE)  # the default retention, a week: everything here is younger
    assert (young.files, young.bytes, _table_files(lake)) == ((), 0, before)
    with pytest.raises(LakehouseError, match="keeps removed files for 168 h"):
        delta.vacuum(TABLE, 0)
    assert delta.vacuum(TABLE, 0, enforce_retention=False, dry_run=True).files
    assert _table_files(lake) == before, "a dry run removes nothing"

    version = delta.version(TABLE)
    done = delta.vacuum(TABLE, 0, enforce_retention=False, run_id="r4")
    removed = {f.removeprefix("file://").rsplit("/", 1)[-1] for f in first}
    assert {f.rsplit("/", 1)[-1] for f in done.files} >= removed | {
        f.rsplit("/", 1)[-1] for f in orphaned}
    assert done.bytes > 0 and not done.dry_run
    assert _table_files(lake) == before - set(done.files)
    # the current version is whole; the replaced one's files are gone
    assert [r.id for r in delta.read(TABLE).collect()] == ["b"]
    with pytest.raises(Exception):  # noqa: B017 - the engine's own file-not-found error
        delta.read(TABLE, version=0).collect()
    # the query engine, snapshots and read_table say so in words
    with pytest.raises(LakehouseError, match=r"silver.things version 0 can no longer be read: "
                       r"1 of its 1 data file\(s\) were removed by a vacuum"):
        snapshot(lake, TABLE, version=0)
    assert snapshot(lake, TABLE, version=1).files, "the current version is whole"
    # a vacuum changes no file of the snapshot: it adds versions but not a data version
    assert delta.version(TABLE) == version + 2
    assert delta.data_version(TABLE) == version
    assert [e.operation for e in delta.history(TABLE, 2)] == ["VACUUM END", "VACUUM START"]
    assert delta.history(TABLE, 1)[0].step == "vacuum"


def test_vacuum_keeps_the_files_of_versions_it_is_told_to(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    delta.write(frame(spark, ("b", "2.00", 2)), TABLE, mode="overwrite")
    delta.write(frame(spark, ("c", "3.00", 3)), TABLE, mode="overwrite")
    done = delta.vacuum(TABLE, 0, enforce_retention=False, keep_versions=[0, 7])
    assert done.kept_versions == (0,), "a version the table does not have is ignored"
    assert len(done.files) - done.checksums == 1, "version 1's file only"
    assert [r.id for r in delta.read(TABLE, version=0).collect()] == ["a"]
    with pytest.raises(Exception):  # noqa: B017
        delta.read(TABLE, version=1).collect()


def test_optimize_compacts_files_and_keeps_every_row(spark, delta):
    for n in range(4):
        delta.write(frame(spark, (f"id{n}", f"{n}.50", n)), TABLE, run_id=f"r{n}")
    expected = delta.read(TABLE)
    assert len(expected.inputFiles()) >= 4
    rows_before = sorted(map(tuple, expected.collect()))
    done = delta.optimize(TABLE, run_id="r9")
    assert (done.files_removed, done.files_added, done.version) == (
        len(expected.inputFiles()), 1, 4)
    compacted = delta.read(TABLE)
    assert len(compacted.inputFiles()) == 1
    assert sorted(map(tuple, compacted.collect())) == rows_before
    assert compacted.schema == expected.schema
    assert delta.history(TABLE, 1)[0].operation == "OPTIMIZE"
    assert delta.optimize(TABLE).version is None, "nothing left to compact"
    assert delta.data_version(TABLE) == 4, "a compaction is a data version (its files changed)"


@pytest.mark.delta_spark
@needs_delta_jars
def test_delta_spark_vacuum_optimize_and_restore(spark, lake):
    from lakehouse.io.delta import DeltaSparkIO

    io = DeltaSparkIO(spark, lake)
    io.write(frame(spark, ("a", "1.00", 1)), TABLE)
    io.write(frame(spark, ("b", "2.00", 2)), TABLE)
    io.write(frame(spark, ("c", "3.00", 3)), TABLE, mode="overwrite")
    with pytest.raises(LakehouseError, match="must be kept"):
        io.vacuum(TABLE, 0, enforce_retention=False, keep_versions=[1])
    assert io.vacuum(TABLE, 0, enforce_retention=False).files
    assert [r.id for r in io.read(TABLE).collect()] == ["c"]
    assert io.data_version(TABLE) == 2
    io.write(frame(spark, ("d", "4.00", 4)), TABLE)
    assert io.optimize(TABLE).files_added == 1
    restored = io.restore(TABLE, 2)
    assert [r.id for r in io.read(TABLE).collect()] == ["c"]
    assert io.history(TABLE, 1)[0].operation == "RESTORE" and restored == io.version(TABLE)


def check_forget_history(io, spark, lake) -> None:
    """What ``forget_history`` does, whichever implementation: the log before the current
    version goes, after a checkpoint; the current version reads as before."""
    io.write(frame(spark, ("a", "1.00", 1)), TABLE)
    io.write(frame(spark, ("b", "2.00", 2)), TABLE)
    io.write(frame(spark, ("c", "3.00", 3)), TABLE, mode="overwrite")
    log = Path(lake.fs_path(f"{io.uri(TABLE)}/_delta_log"))

    def entries() -> list[str]:  # a version's commit, checkpoint or checksum (hidden or not)
        return sorted(p.name for p in log.iterdir() if p.name.lstrip(".")[:1].isdigit())

    earlier = [name for name in entries() if int(name.lstrip(".")[:20]) < 2]
    assert len(earlier) >= 2  # the commits of versions 0 and 1
    assert io.forget_history(TABLE) == len(earlier)
    left = entries()
    assert left and all(int(name.lstrip(".")[:20]) >= 2 for name in left), left
    assert any("checkpoint" in name for name in left)
    assert [r.id for r in io.read(TABLE).collect()] == ["c"] and io.version(TABLE) == 2
    assert [e.version for e in io.history(TABLE)] == [2]
    with pytest.raises(LakehouseError, match="version 1 can no longer be read"):
        snapshot(lake, TABLE, version=1)
    io.write(frame(spark, ("d", "4.00", 4)), TABLE)  # the table goes on from there
    assert sorted(r.id for r in io.read(TABLE).collect()) == ["c", "d"]
    assert io.forget_history(TABLE) >= 1


def test_forget_history_removes_the_log_before_the_current_version(spark, delta, lake):
    check_forget_history(delta, spark, lake)


@pytest.mark.delta_spark
@needs_delta_jars
def test_delta_spark_forget_history(spark, lake):
    from lakehouse.io.delta import DeltaSparkIO

    check_forget_history(DeltaSparkIO(spark, lake), spark, lake)


def test_merge_can_delete_matched_rows_and_insert_nothing(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1), ("b", "2.00", 2), ("c", "3.00", 3)), TABLE)
    spec = MergeSpec(keys=("id", "n"), delete_when="true", insert=False)
    # "b" matches on both keys and goes; "c" matches "id" only; "z" matches nothing and is not
    # inserted
    done = delta.merge(frame(spark, ("b", "9.99", 2), ("c", "3.00", 4), ("z", "1.00", 9)),
                       TABLE, spec)
    assert (done.deleted, done.inserted, done.updated, done.version) == (1, 0, 0, 1)
    assert sorted(r.id for r in delta.read(TABLE).collect()) == ["a", "c"]
    nothing = delta.merge(frame(spark, ("z", "1.00", 9)), TABLE, spec)
    assert (nothing.version, nothing.deleted) == (None, 0)
    assert delta.version(TABLE) == 1


def test_restore_makes_an_earlier_version_current(spark, delta):
    delta.write(frame(spark, ("a", "1.00", 1)), TABLE)
    delta.write(frame(spark, ("b", "2.00", 2)), TABLE, mode="overwrite")
    assert delta.restore(TABLE, 0, run_id="r9") == 2
    assert [r.id for r in delta.read(TABLE).collect()] == ["a"]
    last = delta.history(TABLE, 1)[0]
    assert (last.operation, last.run_id, last.step) == ("RESTORE", "r9", "restore")
    assert [r.id for r in delta.read(TABLE, version=1).collect()] == ["b"], "history kept"
    with pytest.raises(LakehouseError, match="has no version 7"):
        delta.restore(TABLE, 7)


def test_a_staged_frame_is_read_for_pandas_as_spark_gives_it(spark, tmp_path):
    """The gates' small batches: a plain scan of Parquet files read by pyarrow equals Spark's
    ``toPandas`` of it (decimals cast to double), without a Spark job; any other frame is
    Spark's to collect."""
    schema = T.StructType([
        T.StructField("id", T.LongType()), T.StructField("text", T.StringType()),
        T.StructField("amount", T.DecimalType(18, 2)), T.StructField("at", T.TimestampType()),
        T.StructField("day", T.DateType()), T.StructField("flag", T.BooleanType()),
        T.StructField("count", T.IntegerType()), T.StructField("ratio", T.DoubleType()),
        T.StructField("reasons", T.ArrayType(T.StringType())),
        T.StructField("raw", T.BinaryType()), T.StructField("wide", T.DecimalType(22, 2))])
    # 4,000 amounts from -20,000.00, 0.37 apart: pyarrow's own decimal cast is an ulp off for
    # some (14% of all cents from -2,000.00 to 2,000.00: -1999.87 -> -1999.8700000000001)
    rows = [(n, f"t{n}" if n % 7 else None, Decimal(n * 37 - 2_000_000).scaleb(-2),
             dt.datetime(2024, 2, 29, 23, 59, 59, n % 1_000_000) if n % 5 else None,
             dt.date(1970 + n % 80, 1, 1), (n % 3 == 0) if n % 11 else None,
             n if n % 13 else None, n / 7, [f"r{n % 4}"] * (n % 3) if n % 17 else None,
             b"x", Decimal(n).scaleb(-2)) for n in range(4_000)] + [(-1,) + (None,) * 10]
    folder = tmp_path / "staged"
    spark.createDataFrame(rows, schema).repartition(3).write.parquet(str(folder))
    staged = spark.read.schema(schema).parquet(str(folder))
    columns = [c for c in staged.columns if c not in ("raw", "wide")]
    by_spark = staged.select(*(staged[c].cast("double").alias(c) if c == "amount"
                               else staged[c] for c in columns)).toPandas()
    started = spark_jobs_started(spark)
    read = scanned_to_pandas(staged, columns)
    assert spark_jobs_started(spark) == started, "read without a Spark job"
    assert read is not None and len(read) == len(rows)

    def ordered(frame):
        return frame.sort_values("id").reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(read), ordered(by_spark), check_exact=True)
    assert list(scanned_to_pandas(staged, ["amount", "id"]).columns) == ["amount", "id"]
    # Spark's to collect: a frame that is more than a scan, one not read from files, a column
    # pyarrow gives otherwise (bytes) or cannot convert exactly (a decimal of 22 digits), and a
    # session in another time zone
    assert scanned_to_pandas(staged.where("id > 0"), columns) is None
    assert scanned_to_pandas(spark.createDataFrame(rows[:3], schema), columns) is None
    assert scanned_to_pandas(staged, ["id", "raw"]) is None
    assert scanned_to_pandas(staged, ["id", "wide"]) is None
    zone = spark.conf.get("spark.sql.session.timeZone")
    try:
        spark.conf.set("spark.sql.session.timeZone", "Europe/Paris")
        assert scanned_to_pandas(staged, columns) is None
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)


def test_a_staged_frames_rows_per_value_are_counted_as_spark_counts_them(spark, delta):
    data = [(f"file-{i % 3}", ["clean", "quarantined", None][i % 7 % 3]) for i in range(200)]
    data += [(None, "clean")] * 4
    frame = spark.createDataFrame(data, "source_file string, outcome string")
    staged = delta.stage(frame.repartition(3), "r1", "counted")  # several files
    expected = {(r.source_file, r.outcome): r["count"]
                for r in frame.groupBy("source_file", "outcome").count().collect()}
    started = spark_jobs_started(spark)
    assert scanned_counts(staged, ["source_file", "outcome"]) == expected
    assert spark_jobs_started(spark) == started, "counted by pyarrow, without a Spark job"
    assert sum(expected.values()) == 204 and expected[(None, "clean")] == 4
    assert scanned_counts(staged.where("outcome = 'clean'"), ["outcome"]) is None  # not a scan
    empty = delta.stage(frame.where("false"), "r1", "none")
    assert scanned_counts(empty, ["outcome"]) == {}  # an empty file: no rows, no values


def test_more_rows_than_the_driver_reads_are_left_to_spark(spark, delta, monkeypatch):
    import lakehouse.io.delta as module

    staged = delta.stage(spark.range(30).selectExpr("cast(id % 2 as string) as outcome"), "r1",
                         "bounded")
    monkeypatch.setattr(module, "SCANNED_ROWS", 30)
    assert scanned_counts(staged, ["outcome"]) == {("0",): 15, ("1",): 15}
    monkeypatch.setattr(module, "SCANNED_ROWS", 29)
    assert scanned_counts(staged, ["outcome"]) is None
