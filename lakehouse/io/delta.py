"""Delta table I/O with one interface and two implementations.

* ``DeltaSparkIO`` - delta-spark, used wherever the Delta JVM classes are on Spark's classpath
  (AWS Glue with ``--datalake-formats delta``, any Spark with the Delta jars).
* ``DeltaRsIO`` - delta-rs (``deltalake``), used where they are not (a laptop, CI): Spark still
  does the compute and writes the Parquet files in parallel; delta-rs commits them to the log,
  merges from a streamed Arrow scan, and lists a snapshot's files for Spark to read. Nothing is
  collected to the driver.

Both write the same protocol (reader 1, writer 2: no deletion vectors, no column mapping), so a
table written by one is read by the other, by Athena and by DuckDB. ``delta_io`` picks one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lakehouse.errors import LakehouseError, TableNotFoundError
from lakehouse.io.lake import Lake, TableId, spark_path
from lakehouse.pipeline.faults import fault_point
from lakehouse.runtime.spark import JOB_DESCRIPTION, JOB_GROUP, JOB_POOL, job_names, local_frame

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

WriteMode = Literal["append", "overwrite"]
SOURCE, TARGET = "s", "t"  # aliases used by merge conditions: s.<col>, t.<col>
# cluster_by: the most ranges (so files) a write asks for; as many as the values it sampled
CLUSTER_RANGES = 1024


@dataclass(frozen=True)
class CommitResult:
    """What one write committed; ``version`` is None when there was nothing to commit."""

    table: TableId
    version: int | None
    rows: int
    files: int


@dataclass(frozen=True)
class MergeSpec:
    """An upsert on keys. Conditions are SQL over ``s.`` (source) and ``t.`` (target) columns.
    ``delete_when``: a matched target row that meets it is deleted (no update then);
    ``insert=False``: no source row is inserted."""

    keys: tuple[str, ...]
    update_when: str | None = None
    update_set: Mapping[str, str] | None = None
    insert_when: str | None = None
    delete_when: str | None = None
    insert: bool = True

    @property
    def on(self) -> str:
        return " AND ".join(f"{TARGET}.{k} = {SOURCE}.{k}" for k in self.keys)


@dataclass(frozen=True)
class MergeResult:
    table: TableId
    version: int | None
    source_rows: int
    inserted: int
    updated: int
    deleted: int = 0

    @property
    def unchanged(self) -> int:
        return self.source_rows - self.inserted - self.updated - self.deleted


# commit metadata (lakehouse.<key>): the rows a commit of Spark-written files added
ROWS_ADDED = "rows_added"
# Commits that change neither a row nor a file of the table's snapshot: delta-rs and delta-spark
# log a vacuum as two of them. The table's data is as its last other commit left it.
MAINTENANCE_OPERATIONS = frozenset({"VACUUM START", "VACUUM END"})
# Commits that rewrite files but no row (compaction): what was built from the table still holds.
REWRITE_OPERATIONS = frozenset({"OPTIMIZE"})


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp: datetime
    operation: str
    run_id: str | None
    step: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)  # lakehouse.* commit metadata
    parameters: dict[str, str] = field(default_factory=dict)  # operationParameters (mode, ...)

    @property
    def overwrote(self) -> bool:
        """Whether the commit replaced the table's rows (a full refresh), so that no row of an
        earlier commit is in the versions after it."""
        return self.parameters.get("mode", "").lower() == "overwrite"

    def _count(self, *names: str) -> int | None:
        for name in names:
            value = self.metrics.get(name, self.metadata.get(f"lakehouse.{name}"))
            if value not in (None, ""):
                return int(value)
        return None

    def row_changes(self) -> str:
        """What the commit did to rows, e.g. ``+1,002,757`` (written), ``+10,805 ~12`` (a
        merge: inserted, updated) or ``-3`` (deleted); empty when it changed none (a vacuum, a
        compaction) or its engine did not say. delta-rs and delta-spark name their metrics
        differently; commits of files written by Spark carry ``lakehouse.rows_added``."""
        inserted = self._count("num_target_rows_inserted", "numTargetRowsInserted")
        updated = self._count("num_target_rows_updated", "numTargetRowsUpdated")
        deleted = self._count("num_target_rows_deleted", "numTargetRowsDeleted",
                              "num_deleted_rows", "numDeletedRows")
        if inserted is None and updated is None and deleted is None:
            if self.operation in REWRITE_OPERATIONS | MAINTENANCE_OPERATIONS:
                return ""
            inserted = self._count("num_added_rows", "numOutputRows", ROWS_ADDED)
        parts = [f"{sign}{n:,}" for sign, n in (("+", inserted), ("~", updated),
                                                ("-", deleted)) if n]
        return " ".join(parts) or ("0" if inserted is not None else "")


@dataclass(frozen=True)
class VacuumResult:
    """What a vacuum removed (or, ``dry_run``, would remove): paths relative to the table."""

    table: TableId
    files: tuple[str, ...]
    bytes: int
    kept_versions: tuple[int, ...]  # versions whose files were kept whatever their age
    dry_run: bool

    @property
    def checksums(self) -> int:
        """How many of ``files`` are checksum files (``_is_checksum``)."""
        return sum(1 for f in self.files if _is_checksum(f))

    @property
    def data_files(self) -> int:
        return len(self.files) - self.checksums


# a log entry of one version: its commit, checkpoint (single or in parts) or checksum
_LOG_ENTRY = re.compile(r"^\.?(\d{20})\.(?:json|checkpoint\.(?:\d+\.\d+\.)?parquet|crc)"
                        r"(?:\.crc)?$")


# Bronze's files are written without dictionary encoding. Bronze is written once and read whole
# by the parse, which reads most of its text columns several times a row (the field, the raw
# hash, the raw values): Spark's Parquet reader decodes (copies) a dictionary-encoded value at
# every read, a tenth of a 1 M-row parse's CPU. Plain, a Bronze file is about 1.7x as large
# (snappy), written faster and parsed faster (1 M rows: written in 4.8 s against 7.7 s, parsed
# in 11.6 s against 14.5 s). Silver and Gold keep dictionaries: they are queried, not parsed.
_PLAIN_ENCODING = {"parquet.enable.dictionary": "false"}


def parquet_options(table: TableId) -> dict[str, str]:
    """The Parquet writer's options for ``table``'s files (``DeltaRsIO``)."""
    return _PLAIN_ENCODING if table.layer == "bronze" else {}


def _is_checksum(path: str) -> bool:
    """A local filesystem's ``.<file>.crc`` beside a file Spark wrote. No commit names it, so
    a vacuum takes it with its file, and also beside a live file (harmless: the file then
    reads unchecked), but only when it removes a data file too: a vacuum that would remove
    nothing else is not made (it would add two versions to every table Spark wrote)."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".crc")


def _worth_vacuuming(files: Sequence[str]) -> tuple[str, ...]:
    """``files`` when one of them is a data file, else none (see ``_is_checksum``)."""
    return tuple(sorted(files)) if any(not _is_checksum(f) for f in files) else ()


@dataclass(frozen=True)
class OptimizeResult:
    """What a compaction did; ``version`` is None when there was nothing to compact."""

    table: TableId
    version: int | None
    files_removed: int
    files_added: int


@dataclass(frozen=True)
class Target:
    """Where a prepared frame goes (``DeltaIO.prepare``): a table, and how ``DeltaIO.write``
    would write it there."""

    table: TableId
    mode: WriteMode = "overwrite"
    replace_where: str | None = None
    cluster_by: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A frame computed once into files (``folder``) and read back from them (``frame``).
    With a ``target``, the files are also ready to become that table's next version
    (``DeltaIO.commit``) unless thrown away first (``DeltaIO.discard``)."""

    frame: DataFrame
    target: Target | None
    folder: str
    seconds: float = 0.0  # how long computing its files took (frames prepared together overlap)

    @property
    def committable(self) -> Target:
        """Its target; a frame prepared without one cannot be committed."""
        if self.target is None:
            raise ValueError("a frame prepared without a target cannot be committed")
        return self.target


class PreparedLater:
    """Writes being prepared in background threads (``DeltaIO.prepare_later``), each a future
    of its ``Prepared`` (or of None: nothing prepared). One is taken alone with ``take``; the
    rest with ``result``, or thrown away with ``discard``: both wait for every job to end,
    and either ends the handle (a second call is refused, a ``discard`` after it does
    nothing). ``pool``: the threads, shut down when the handle ends (None: the caller's)."""

    def __init__(self, delta: DeltaIO, futures: dict[str, Future[Prepared | None]],
                 pool: ThreadPoolExecutor | None = None) -> None:
        self._delta = delta
        self._futures = futures
        self._pool = pool
        self._taken = False

    def take(self, label: str) -> Prepared | None:
        """One write prepared, waiting for it only (the others go on): no longer among
        ``result``'s nor thrown away by ``discard``. None when nothing was prepared under the
        label; its error if preparing it failed."""
        future = self._futures.pop(label, None)
        return None if future is None else future.result()

    def _wait(self) -> None:
        if self._taken:
            raise ValueError("these prepared frames were taken already")
        self._taken = True
        wait(self._futures.values())
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def result(self) -> dict[str, Prepared]:
        """Every write prepared, by label; when one failed, the others' table files are
        discarded and its error is raised."""
        self._wait()
        failed = [f.exception() for f in self._futures.values() if f.exception() is not None]
        if failed:
            self._discard_done()
            raise failed[0]  # type: ignore[misc]
        return {label: prepared for label, future in self._futures.items()
                if (prepared := future.result()) is not None}

    def discard(self) -> None:
        """Every write not taken thrown away (none is committed), unless ended already."""
        if not self._taken:
            self._wait()
            self._discard_done()

    def _discard_done(self) -> None:
        for future in self._futures.values():
            if future.exception() is None and (prepared := future.result()) is not None:
                self._delta.discard(prepared)


class SchemaMismatchError(LakehouseError):
    """A write's columns or types differ from the table's."""


def commit_metadata(run_id: str | None, step: str | None,
                    extra: Mapping[str, str] | None = None) -> dict[str, str]:
    meta = {"lakehouse.run_id": run_id, "lakehouse.step": step,
            **{f"lakehouse.{k}": v for k, v in (extra or {}).items()}}
    return {k: v for k, v in meta.items() if v}


def nullable(schema: StructType) -> StructType:
    """Tables are created with nullable columns: Spark writes every Parquet column as optional."""
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def _schema_difference(expected: StructType, actual: StructType) -> str | None:
    want = {f.name: f.dataType.simpleString() for f in expected.fields}
    got = {f.name: f.dataType.simpleString() for f in actual.fields}
    if want == got:
        return None
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if changed:
        parts.append("type changed " + ", ".join(f"{k}: {want[k]} -> {got[k]}" for k in changed))
    return "; ".join(parts)


class DeltaIO(ABC):
    """Every table read and write goes through here; only this layer knows paths and formats."""

    implementation: str
    # Whether ``commit`` makes a prepared frame's files the table's as they are, so that
    # preparing a write ahead of its commit costs no second write (``DeltaRsIO``); here,
    # ``commit`` writes the frame again from the run's scratch copy.
    prepares_in_place = False

    def __init__(self, spark: SparkSession | None, lake: Lake) -> None:
        self._spark = spark
        self.lake = lake

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            raise LakehouseError(f"{self.implementation}: this operation needs a Spark session")
        return self._spark

    def stage(self, df: DataFrame, run_id: str, label: str) -> DataFrame:
        """``df`` computed once into the run's scratch folder (``Lake.staging_uri``) and read
        back. The frame returned is a plain file scan: the counts, quality gates and writes that
        follow read these files instead of recomputing ``df``, holding it in memory (a cache is
        bounded by the heap) or planning its long lineage again for every query (which cost
        most of a small batch's gate time)."""
        return self.prepare(df, run_id, label).frame

    def stage_all(self, frames: Mapping[str, DataFrame], run_id: str,
                  concurrency: int = 1) -> dict[str, DataFrame]:
        """``stage`` of each frame (keyed by its label), ``concurrency`` at a time
        (``prepare_all``)."""
        prepared = self.prepare_all({label: (df, None) for label, df in frames.items()},
                                    run_id, concurrency)
        return {label: p.frame for label, p in prepared.items()}

    def prepare(self, df: DataFrame, run_id: str, label: str,
                target: Target | None = None) -> Prepared:
        """``df`` computed once into files and read back (``stage``). With a ``target``, the
        files are made to be the target table's next version as they are: checked against the
        table's schema, in its column order, clustered as ``target.cluster_by`` says; the
        caller validates ``Prepared.frame``, then ``commit``s or ``discard``s it.

        Here the files are the run's scratch copy and ``commit`` writes them to the table;
        ``DeltaRsIO`` writes them inside the table's folder and commits those very files (a
        Gold table was written twice: staged for its gate, then copied into the table)."""
        started = time.perf_counter()
        if target is not None:
            _check_replace_where(target.mode, target.replace_where)
        frame, folder = self._prepared_files(df, run_id, label, target)
        return Prepared(frame, target, folder, round(time.perf_counter() - started, 3))

    def _prepared_files(self, df: DataFrame, run_id: str, label: str,
                        target: Target | None) -> tuple[DataFrame, str]:
        """``prepare``'s files: ``df`` written once, read back, and their folder (here the
        run's scratch folder, whatever the target)."""
        uri = self._write_scratch(df, run_id, label)
        return self._read_scratch(uri, df), uri

    def prepare_all(self, frames: Mapping[str, tuple[DataFrame, Target | None]], run_id: str,
                    concurrency: int = 1) -> dict[str, Prepared]:
        """``prepare`` of each frame (keyed by its label, with its target or None),
        ``concurrency`` at a time. Frames that do not read each other are computed faster
        together: Spark gives the cores one job leaves idle (its single-task stages, the
        driver's planning and commits between its stages) to the other's tasks. When one
        fails, the others' table files are discarded and its error is raised once every job
        has ended."""
        if concurrency <= 1 or len(frames) <= 1:
            prepare = self._named_prepare(frames, run_id)
            done: dict[str, Prepared] = {}
            try:
                for label in frames:
                    done[label] = prepare(label)
            except BaseException:
                for prepared in done.values():
                    self.discard(prepared)
                raise
            return done
        return self.prepare_later(frames, run_id, concurrency).result()

    def prepare_later(self, frames: Mapping[str, tuple[DataFrame, Target | None]],
                      run_id: str, concurrency: int = 1) -> PreparedLater:
        """``prepare_all`` in background threads (``concurrency`` of them): the caller goes on
        with work that does not need these frames (its own jobs share the cores with theirs)
        and takes them with ``PreparedLater.result()``, or throws them away with
        ``PreparedLater.discard()``."""
        prepare = self._named_prepare(frames, run_id)
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="stage")
        futures: dict[str, Future[Prepared | None]] = {
            label: pool.submit(prepare, label) for label in frames}
        return PreparedLater(self, futures, pool)

    def _named_prepare(self, frames: Mapping[str, tuple[DataFrame, Target | None]],
                       run_id: str) -> Callable[[str], Prepared]:
        """``prepare`` of a frame by its label, its Spark jobs named after the caller's step
        and the label (in whichever thread computes them)."""
        context = self.spark.sparkContext
        group = context.getLocalProperty(JOB_GROUP) or run_id
        step = context.getLocalProperty(JOB_DESCRIPTION)
        pool = context.getLocalProperty(JOB_POOL)

        def prepare(label: str) -> Prepared:
            df, target = frames[label]
            with job_names(self.spark, group, f"{step}: {label}" if step else label, pool):
                return self.prepare(df, run_id, label, target)

        return prepare

    def commit(self, prepared: Prepared, *, run_id: str | None = None,
               step: str | None = None,
               metadata: Mapping[str, str] | None = None) -> CommitResult:
        """A prepared frame (``prepare`` with a target) made its table's next version, with
        ``write``'s result; here, written by ``write``."""
        target = prepared.committable
        return self.write(prepared.frame, target.table, target.mode, run_id=run_id, step=step,
                          metadata=metadata, replace_where=target.replace_where,
                          cluster_by=target.cluster_by)

    def discard(self, prepared: Prepared) -> None:
        """A prepared frame that will not be committed: its files that would have been the
        table's are removed. Here there are none (scratch files go with the run's scratch
        folder)."""
        return None

    def _written_files(self, folder: str) -> list[pafs.FileInfo]:
        fs, _ = self.lake.filesystem()
        selector = pafs.FileSelector(self.lake.fs_path(folder), recursive=True,
                                     allow_not_found=True)
        return sorted((i for i in fs.get_file_info(selector)
                       if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
                       and not i.base_name.startswith((".", "_"))), key=lambda i: i.path)

    def rows(self, prepared: Prepared) -> int:
        """The rows of a prepared frame, from its files' footers (no Spark job)."""
        return sum(metadata.num_rows for metadata in self._footers(prepared))

    def _footers(self, prepared: Prepared) -> Iterator[pq.FileMetaData]:
        """The footer of each file of a prepared frame."""
        fs, _ = self.lake.filesystem()
        for info in self._written_files(prepared.folder):
            with fs.open_input_file(info.path) as handle:
                yield pq.read_metadata(handle)

    def bounds(self, prepared: Prepared, column: str) -> tuple[Any, Any]:
        """The smallest and largest value of a date or integer column of a prepared frame;
        (None, None) when it has no value. From its files' footers, whose row groups' bounds
        are exact for these types: no Spark job. By a Spark job when a row group with values
        has no bounds (a writer that left them out)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import DateType, IntegerType, LongType

        kind = prepared.frame.schema[column].dataType
        if not isinstance(kind, (DateType, IntegerType, LongType)):
            raise ValueError(f"bounds of {column} ({kind.simpleString()}): dates and integers "
                             "only (other types' footer bounds may be inexact)")
        low: Any = None
        high: Any = None
        for metadata in self._footers(prepared):
            index = next(i for i in range(metadata.num_columns)
                         if metadata.schema.column(i).path == column)
            for rg in range(metadata.num_row_groups):
                group = metadata.row_group(rg)
                stats = group.column(index).statistics
                if stats is not None and stats.has_null_count and \
                        stats.null_count == group.num_rows:
                    continue  # no value in this row group
                if stats is None or not stats.has_min_max:
                    row = prepared.frame.agg(F.min(column), F.max(column)).collect()[0]
                    return row[0], row[1]
                low = stats.min if low is None else min(low, stats.min)
                high = stats.max if high is None else max(high, stats.max)
        return low, high

    def _write_scratch(self, df: DataFrame, run_id: str, label: str) -> str:
        """``df`` written once as Parquet into a new scratch folder of the run; its URI."""
        uri = self.lake.staging_uri(run_id, label)
        df.write.mode("errorifexists").parquet(spark_path(uri))
        return uri

    def _read_scratch(self, uri: str, like: DataFrame) -> DataFrame:
        return self.spark.read.schema(like.schema).parquet(spark_path(uri))

    def uri(self, table: TableId) -> str:
        return self.lake.uri(table)

    @abstractmethod
    def exists(self, table: TableId) -> bool: ...

    @abstractmethod
    def version(self, table: TableId) -> int | None:
        """Current version, or None when the table does not exist."""

    @abstractmethod
    def schema(self, table: TableId) -> StructType: ...

    @abstractmethod
    def read(self, table: TableId, version: int | None = None,
             as_of: datetime | str | None = None) -> DataFrame:
        """The table's current snapshot, or the one at ``version`` / timestamp ``as_of``."""

    @abstractmethod
    def write(self, df: DataFrame, table: TableId, mode: WriteMode = "append", *,
              run_id: str | None = None, step: str | None = None,
              metadata: Mapping[str, str] | None = None, replace_where: str | None = None,
              cluster_by: str | None = None) -> CommitResult:
        """Append or overwrite; creates the table on first write.

        ``replace_where`` (an overwrite): a SQL predicate; only the table's rows matching it
        are replaced, by ``df``, whose every row must match it (a ``LakehouseError`` otherwise;
        nothing is written). Only the files holding matching rows
        are rewritten. ``cluster_by``: a column whose rows of one value go to one file, files
        holding ranges of it (about a file per value), so that a later ``replace_where`` on it
        rewrites few files."""

    def _check_rows_match(self, df: DataFrame, table: TableId, predicate: str) -> None:
        """A ``replace_where`` write's rows all match its predicate (one job on ``df``)."""
        from pyspark.sql import functions as F

        if df.where(~F.coalesce(F.expr(predicate), F.lit(False))).limit(1).count():
            raise LakehouseError(f"cannot write to {table}: rows of the frame do not match the "
                                 f"predicate {predicate!r} that they replace")

    @staticmethod
    def _clustered(df: DataFrame, column: str | None) -> DataFrame:
        if column is None:
            return df
        # A range partitioning never splits a value, and its ranges are bounded by the values
        # of a sample: asked for more ranges than there are values, it makes a range of each
        # value it sampled (fewer when a value is rare), so about a file per value (without a
        # job to count them first).
        return df.repartitionByRange(CLUSTER_RANGES, column)

    @abstractmethod
    def merge(self, df: DataFrame, table: TableId, spec: MergeSpec, *,
              run_id: str | None = None, step: str | None = None) -> MergeResult:
        """Upsert ``df`` on ``spec.keys``; creates the table from ``df`` if it does not exist."""

    def any_key_in(self, df: DataFrame, table: TableId, keys: tuple[str, ...]) -> bool:
        """Whether any key of ``df`` is in the table (null keys match nothing, as in a MERGE);
        False when there is no table yet.

        Asked as "does any row of the table have a key of ``df``", so that a small batch is the
        join's build side: Spark broadcasts it and streams the table's keys past it. Asked the
        other way round, it sorted and shuffled every key of the table (a left semi join can
        only build on its right side): 3.2 s against 1.4 s for a day's keys on 4 M rows."""
        if not self.exists(table):
            return False
        target = self.read(table).select(*keys)
        return bool(target.join(df.select(*keys), list(keys), "left_semi").limit(1).count())

    @abstractmethod
    def delete(self, table: TableId, predicate: str, *, run_id: str | None = None,
               step: str | None = None) -> int | None:
        """Delete the rows matching a SQL predicate; the new version, or None if none matched."""

    @abstractmethod
    def history(self, table: TableId, limit: int | None = None) -> list[HistoryEntry]: ...

    def last_commit(self, table: TableId,
                    skip: frozenset[str] = MAINTENANCE_OPERATIONS) -> HistoryEntry | None:
        """The newest commit whose operation is not in ``skip`` (None: no such commit, or no
        table). By default it skips vacuums, so its version is the table's data version."""
        if not self.exists(table):
            return None
        recent = self.history(table, 16)  # newest first; a few vacuums at most, usually
        for entries in (recent, self.history(table) if len(recent) == 16 else []):
            for entry in entries:
                if entry.operation not in skip:
                    return entry
        return None

    def data_version(self, table: TableId) -> int | None:
        """The version of the last commit that changed the table's files: vacuums add versions
        but leave its snapshot as it was (None when the table does not exist)."""
        entry = self.last_commit(table)
        return entry.version if entry is not None else None

    def _bytes(self, table: TableId, files: Sequence[str]) -> int:
        """The size of files named relative to the table or by their full URI."""
        fs, _ = self.lake.filesystem()
        root = self.uri(table).rstrip("/")
        paths = [self.lake.fs_path(f if "://" in f or f.startswith("/")
                                   else f"{root}/{unquote(f)}").removeprefix("file:")
                 for f in files]
        return sum(max(info.size or 0, 0) for info in fs.get_file_info(paths))

    @abstractmethod
    def vacuum(self, table: TableId, retain_hours: int | None = None, *,
               keep_versions: Sequence[int] = (), dry_run: bool = False,
               enforce_retention: bool = True, run_id: str | None = None) -> VacuumResult:
        """Remove the files no version younger than ``retain_hours`` needs (files removed from
        the snapshot longer ago than that) and the files no commit names (a killed run's, older
        than that), except those of ``keep_versions``. None: the table's
        ``delta.deletedFileRetentionDuration``, 7 days by default; a shorter retention is
        refused unless ``enforce_retention`` is False."""

    @abstractmethod
    def optimize(self, table: TableId, target_size_mb: int | None = None, *,
                 run_id: str | None = None) -> OptimizeResult:
        """Compact small files into files of about ``target_size_mb`` (the table's
        ``delta.targetFileSize`` or 100 MB by default); rows unchanged."""

    @abstractmethod
    def restore(self, table: TableId, version: int, *, run_id: str | None = None) -> int:
        """Make ``version``'s snapshot the table's next version (history kept); that new
        version. Its files must still be there (not vacuumed)."""

    def forget_history(self, table: TableId) -> int:
        """The table's log before its current version removed, after a checkpoint of that
        version: the earlier versions can no longer be read, nor their commits listed. What
        a purge of old values needs beside a vacuum: each commit's file statistics hold its
        columns' smallest and largest values (text cut at 32 characters). Returns how many log
        files were removed. Needs the lake's lock (no writer may be committing)."""
        version = self.version(table)
        if version is None:
            raise TableNotFoundError(f"table {table} does not exist in {self.lake.root}")
        self._checkpoint(table)
        fs, _ = self.lake.filesystem()
        earlier = [info for number, info in self._log_entries(table) if number < version]
        for info in earlier:
            fs.delete_file(info.path)
        return len(earlier)

    @abstractmethod
    def _checkpoint(self, table: TableId) -> None:
        """A checkpoint of the table's current version in its log."""

    def _log_entries(self, table: TableId) -> list[tuple[int, pafs.FileInfo]]:
        """The files of the table's log that belong to one version, with its number."""
        fs, _ = self.lake.filesystem()
        log = self.lake.fs_path(f"{self.uri(table)}/_delta_log")
        return [(int(found.group(1)), info)
                for info in fs.get_file_info(pafs.FileSelector(log, allow_not_found=True))
                if info.type == pafs.FileType.File
                and (found := _LOG_ENTRY.match(info.base_name))]

    def _earliest_logged(self, table: TableId) -> int:
        """The first version the table's log still holds (0 unless its history was removed)."""
        return min((v for v, _ in self._log_entries(table)), default=0)

    @abstractmethod
    def appended_since(self, table: TableId, since: int, version: int) -> DataFrame | None:
        """The rows ``table`` gained from version ``since`` to ``version`` when every commit
        in between only added files (appends, merges that only inserted); None when a row may
        have changed or gone (an update, delete, overwrite or compaction) or version ``since``
        can no longer be read."""

    def _read_files(self, uris: list[str], schema: StructType) -> DataFrame:
        if not uris:
            return local_frame(self.spark, [], schema)
        return self.spark.read.schema(schema).parquet(*(spark_path(u) for u in uris))

    def append_records(self, records: Sequence[Sequence[Any]], schema: StructType,
                       table: TableId, *, run_id: str | None = None,
                       step: str | None = None) -> CommitResult:
        """A run's few records (its steps, files, gate results: Python values in ``schema``'s
        column order) appended to ``table`` as one file. Here through Spark; ``DeltaRsIO``
        appends them without a Spark job."""
        frame = self.spark.createDataFrame([tuple(r) for r in records], schema).coalesce(1)
        return self.write(frame, table, "append", run_id=run_id, step=step)

    def read_records(self, table: TableId, columns: Sequence[str]) -> list[dict[str, Any]]:
        """``columns`` of every row of a small table (a run's manifest) as Python values;
        timestamps as timezone-aware datetimes. Here through Spark; ``DeltaRsIO`` reads the
        files in the driver without a Spark job."""
        rows = self.read(table).select(*columns).collect()
        # PySpark returns naive datetimes in local time; astimezone() reads them the same way
        return [{k: v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo is None else v
                 for k, v in row.asDict().items()} for row in rows]

    def read_or_empty(self, table: TableId, schema: StructType) -> DataFrame:
        if self.exists(table):
            return self.read(table)
        return local_frame(self.spark, [], schema)

    def _require(self, table: TableId) -> None:
        if not self.exists(table):
            raise TableNotFoundError(f"table {table} does not exist in {self.lake.root}")

    def _check_schema(self, table: TableId, schema: StructType) -> None:
        """A clear error when a write's columns or types differ from the table's."""
        difference = _schema_difference(self.schema(table), schema)
        if difference:
            raise SchemaMismatchError(f"cannot write to {table}: {difference}")


# --------------------------------------------------------------------------------------------
# delta-rs: Spark writes Parquet, delta-rs commits it


def _as_datetime(as_of: datetime | str) -> datetime:
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    try:
        text = as_of.strip().removesuffix(" UTC").replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise LakehouseError(f"not a timestamp: {as_of!r} (use ISO 8601, e.g. "
                             "2024-03-01T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_STATS_TYPES = ("int", "bigint", "smallint", "tinyint", "date", "timestamp", "string")
_MAX_STRING_STAT = 32


def _stat_value(value: Any, type_name: str, is_max: bool) -> Any:
    """A Parquet statistic in Delta's JSON encoding, or None when it cannot be exact."""
    if value is None:
        return None
    if type_name == "date" and isinstance(value, date):
        return value.isoformat()
    if type_name == "timestamp" and isinstance(value, datetime):
        # Delta keeps milliseconds: round the bounds outwards so pruning never drops a row.
        value = value.astimezone(UTC)
        floor = value.replace(microsecond=value.microsecond // 1000 * 1000)
        if is_max and floor != value:
            floor += timedelta(milliseconds=1)
        return floor.strftime("%Y-%m-%dT%H:%M:%S.") + f"{floor.microsecond // 1000:03d}Z"
    if type_name == "string":
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return text if len(text) <= _MAX_STRING_STAT else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def file_stats(metadata: pq.FileMetaData, schema: StructType) -> str:
    """Delta ``stats`` JSON for one Parquet file, from its footer: row count, null counts, bounds.

    Bounds are written only where they are exact (integers, dates, millisecond-rounded timestamps,
    short strings); other columns get row and null counts only, which is always safe.
    """
    types = {f.name: f.dataType.simpleString() for f in schema.fields}
    columns: dict[str, int] = {}
    for i in range(metadata.num_columns):
        path = metadata.schema.column(i).path
        if "." not in path and path in types:
            columns[path] = i
    nulls: dict[str, int] = {}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    for name, index in columns.items():
        null_count = 0
        low: Any = None
        high: Any = None
        exact = types[name] in _STATS_TYPES
        for rg in range(metadata.num_row_groups):
            stats = metadata.row_group(rg).column(index).statistics
            if stats is None or not stats.has_null_count:
                null_count = -1
                exact = False
                break
            null_count += stats.null_count
            if exact and metadata.row_group(rg).num_rows > stats.null_count:
                if not stats.has_min_max:
                    exact = False
                    continue
                low = stats.min if low is None else min(low, stats.min)
                high = stats.max if high is None else max(high, stats.max)
        if null_count >= 0:
            nulls[name] = null_count
        if exact and low is not None:
            lo, hi = _stat_value(low, types[name], False), _stat_value(high, types[name], True)
            if lo is not None and hi is not None:
                mins[name], maxs[name] = lo, hi
    return json.dumps({"numRecords": metadata.num_rows, "minValues": mins, "maxValues": maxs,
                       "nullCount": nulls}, separators=(",", ":"))


class DeltaRsIO(DeltaIO):
    implementation = "delta-rs"
    prepares_in_place = True

    def _table(self, table: TableId, version: int | None = None) -> Any:
        from deltalake import DeltaTable

        try:
            return DeltaTable(self.uri(table), version=version)
        except Exception as exc:  # deltalake raises TableNotFoundError or a generic error
            if not self.exists(table):
                raise TableNotFoundError(f"table {table} does not exist in "
                                         f"{self.lake.root}") from None
            latest = DeltaTable(self.uri(table)).version()
            if version is not None and not 0 <= version <= latest:
                raise LakehouseError(f"{table} has no version {version} (versions 0 to "
                                     f"{latest})") from None
            earliest = self._earliest_logged(table)
            if version is not None and version < earliest:
                raise LakehouseError(f"{table} version {version} can no longer be read: its log "
                                     f"starts at version {earliest} (the history before was "
                                     "removed, by 'lakehouse redact --purge-history')") from None
            raise LakehouseError(f"cannot open {table} at version {version}: {exc}") from None

    def exists(self, table: TableId) -> bool:
        from deltalake import DeltaTable

        return bool(DeltaTable.is_deltatable(self.uri(table)))

    def version(self, table: TableId) -> int | None:
        return self._table(table).version() if self.exists(table) else None

    def schema(self, table: TableId) -> StructType:
        return _spark_schema(self._table(table))

    def read(self, table: TableId, version: int | None = None,
             as_of: datetime | str | None = None) -> DataFrame:
        self._require(table)
        dt = self._table(table, version)
        if as_of is not None:
            _load_as_of(dt, table, as_of)
        return self._read_files(dt.file_uris(), _spark_schema(dt))

    def appended_since(self, table: TableId, since: int, version: int) -> DataFrame | None:
        if since > version:
            return None
        try:
            before, after = self._table(table, since), self._table(table, version)
        except LakehouseError:
            return None  # the log of version ``since`` was cleaned up
        if "deletionVectors" in (after.protocol().reader_features or []):
            return None  # rows of a file kept by path may have been deleted
        kept = set(before.file_uris())
        files = after.file_uris()
        if not kept <= set(files) or before.schema() != after.schema():
            return None
        return self._read_files([u for u in files if u not in kept], _spark_schema(after))

    def _add_actions(self, table: TableId, folder: str,
                     schema: StructType) -> tuple[list[Any], int]:
        from deltalake.transaction import AddAction

        fs, _ = self.lake.filesystem()
        root = self.lake.fs_path(self.uri(table)).rstrip("/") + "/"
        actions = []
        rows = 0
        for info in self._written_files(folder):
            with fs.open_input_file(info.path) as handle:
                metadata = pq.read_metadata(handle)
            if metadata.num_rows == 0:
                fs.delete_file(info.path)  # Spark writes a header-only file for an empty frame
                continue
            rows += metadata.num_rows
            mtime = int((info.mtime.timestamp() if info.mtime else time.time()) * 1000)
            actions.append(AddAction(info.path.removeprefix(root), info.size, {}, mtime, True,
                                     file_stats(metadata, schema)))
        return actions, rows

    def write(self, df: DataFrame, table: TableId, mode: WriteMode = "append", *,
              run_id: str | None = None, step: str | None = None,
              metadata: Mapping[str, str] | None = None, replace_where: str | None = None,
              cluster_by: str | None = None) -> CommitResult:
        prepared = self.prepare(df, run_id or "", str(table),
                                Target(table, mode, replace_where, cluster_by))
        return self.commit(prepared, run_id=run_id, step=step, metadata=metadata)

    def _prepared_files(self, df: DataFrame, run_id: str, label: str,
                        target: Target | None) -> tuple[DataFrame, str]:
        if target is None:
            return super()._prepared_files(df, run_id, label, target)
        table = target.table
        if self.exists(table):
            self._check_schema(table, df.schema)
            schema = self.schema(table)
        else:
            schema = nullable(df.schema)
        rows = df.select(*schema.fieldNames())
        folder = self._write_folder(self._clustered(rows, target.cluster_by), table)
        return self._read_scratch(folder, rows), folder

    def commit(self, prepared: Prepared, *, run_id: str | None = None,
               step: str | None = None,
               metadata: Mapping[str, str] | None = None) -> CommitResult:
        target = prepared.committable
        table = target.table
        before = self.version(table)
        folders = [prepared.folder]
        try:
            exists = before is not None
            schema = self.schema(table) if exists else nullable(prepared.frame.schema)
            mode: WriteMode = target.mode
            removes: list[Any] = []
            if exists and target.replace_where is not None:
                kept, removes = self._replacing(prepared.frame, table, target.replace_where,
                                                schema)
                if kept is not None:  # the other rows of files holding matching rows
                    folders.append(self._write_folder(self._clustered(kept, target.cluster_by),
                                                      table))
                mode = "append"  # what goes is said by the remove actions
            if removes:  # the log's operation is an append that removes files: say why
                metadata = {**(metadata or {}), "replace_where": str(target.replace_where)}
            committed = self._commit_folders(table, folders, schema, mode, removes, exists,
                                             run_id=run_id, step=step, metadata=metadata)
            if committed.version is None:  # no rows to add: the folders hold no table file
                for folder in folders:
                    self.lake.remove(folder)
            return committed
        except BaseException:
            if self.version(table) == before:  # nothing committed: the files are nobody's
                for folder in folders:
                    self.lake.remove(folder)
            raise

    def discard(self, prepared: Prepared) -> None:
        if prepared.target is None:
            return
        self.lake.remove(prepared.folder)
        # a table that was to be created by the commit leaves no empty folder behind
        fs, _ = self.lake.filesystem()
        folder = self.lake.fs_path(self.uri(prepared.target.table))
        if not self.exists(prepared.target.table) and not fs.get_file_info(
                pafs.FileSelector(folder, allow_not_found=True)):
            self.lake.remove(self.uri(prepared.target.table))

    def _write_folder(self, df: DataFrame, table: TableId) -> str:
        """``df`` written as Parquet into a fresh folder inside the table (none of its files in
        the log yet: its files are exactly one commit's files); the folder's URI."""
        folder = f"{self.uri(table)}/{time.strftime('%Y%m%dT%H%M%S')}-{_short_id()}"
        df.write.options(**parquet_options(table)).mode("errorifexists").parquet(
            spark_path(folder))
        return folder

    def _commit_folders(self, table: TableId, folders: Sequence[str], schema: StructType,
                        mode: WriteMode, removes: list[Any], exists: bool, *,
                        run_id: str | None, step: str | None,
                        metadata: Mapping[str, str] | None) -> CommitResult:
        """One commit adding the files of ``folders`` (``_write_folder``) and ``removes``."""
        from deltalake import CommitProperties, Schema
        from deltalake.transaction import create_table_with_add_actions

        uri = self.uri(table)
        actions, rows = [], 0
        for folder in folders:
            added, counted = self._add_actions(table, folder, schema)
            actions += added
            rows += counted
        fault_point(f"delta.commit:{table}")  # Parquet written, not yet in the log
        # delta-rs records no metrics for a commit of files written elsewhere: the rows it adds
        # are said in the metadata ("lakehouse history" shows them)
        properties = CommitProperties(custom_metadata=commit_metadata(
            run_id, step, {**(metadata or {}), ROWS_ADDED: str(rows)} if actions else metadata))
        if not exists:
            create_table_with_add_actions(uri, Schema.from_json(schema.json()), actions,
                                          mode="error", commit_properties=properties)
        elif actions or removes or mode == "overwrite":
            self._table(table).create_write_transaction(
                [*actions, *removes], mode=mode, schema=Schema.from_json(schema.json()),
                commit_properties=properties)
        else:
            return CommitResult(table, None, 0, 0)
        return CommitResult(table, self._table(table).version(), rows, len(actions))

    def _replacing(self, df: DataFrame, table: TableId, predicate: str,
                   schema: StructType) -> tuple[DataFrame | None, list[Any]]:
        """For an overwrite of the rows matching ``predicate`` by ``df`` (whose every row must
        match it): the remove actions of the files holding matching rows, and the other rows
        of those files, which are written again (None when every row of each such file
        matches, as in a file of whole months replaced by an update of those months).

        Spark finds the files and counts their matching rows against the row counts in the
        log (reading the predicate's columns, its Parquet reader skipping the row groups that
        cannot match): no row of the table or of ``df`` passes through the driver. (delta-rs'
        own overwrite with a predicate takes Arrow data in the driver, and held 180 MB more
        there for a 581 k-row month.)"""
        import pyarrow as pa
        from deltalake.transaction import RemoveAction
        from pyspark.sql import functions as F

        self._check_rows_match(df, table, predicate)
        matches = F.coalesce(F.expr(predicate), F.lit(False))
        files = pa.table(self._table(table).get_add_actions(flatten=True)).select(
            ["path", "size_bytes", "num_records"]).to_pylist()
        sizes = {f["path"]: f["size_bytes"] for f in files}
        records = {f["path"]: f["num_records"] for f in files}
        root = self.uri(table).rstrip("/") + "/"
        located = self.lake.fs_path(self.uri(table)).rstrip("/") + "/"
        found = (self._read_files([root + p for p in sizes], schema).where(matches)
                 .groupBy(F.input_file_name().alias("file")).count().collect())
        matched = {unquote(r.file).split(located, 1)[-1]: r["count"] for r in found}
        unknown = [p for p in matched if p not in sizes]
        if unknown:  # a path Spark spells in a way not foreseen here: never guess
            raise LakehouseError(f"cannot write to {table}: files {unknown[:3]} read by Spark "
                                 "are not in its snapshot")
        # a file without a row count in the log (written by another tool) is read again
        partial = sorted(p for p, n in matched.items() if records[p] != n)
        kept = (self._read_files([root + p for p in partial], schema).where(~matches)
                if partial else None)
        now = int(time.time() * 1000)
        return kept, [RemoveAction(p, True, now, sizes[p]) for p in sorted(matched)]

    def append_records(self, records: Sequence[Sequence[Any]], schema: StructType,
                       table: TableId, *, run_id: str | None = None,
                       step: str | None = None) -> CommitResult:
        """Appended by delta-rs from an Arrow table built in the driver: a Spark job for a few
        records cost 0.3 s, and a run writes five of them. The table's first write (which
        creates it) goes through Spark, as every other table's does."""
        import pyarrow as pa
        from deltalake import CommitProperties, write_deltalake
        from pyspark.sql.pandas.types import to_arrow_schema

        if not self.exists(table):
            return super().append_records(records, schema, table, run_id=run_id, step=step)
        self._check_schema(table, schema)
        if not records:
            return CommitResult(table, None, 0, 0)
        arrow = to_arrow_schema(nullable(schema))
        stamps = {f.name for f in arrow if pa.types.is_timestamp(f.type)}
        # a naive datetime is local time, as Spark takes it
        columns = [[v.astimezone(UTC) if name in stamps and v is not None and v.tzinfo is None
                    else v for v in values]
                   for name, values in zip(arrow.names, zip(*records, strict=True),
                                           strict=True)]
        data = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, arrow,
                                                                             strict=True)],
                                    schema=arrow)
        fault_point(f"delta.commit:{table}")
        write_deltalake(self.uri(table), data, mode="append",
                        commit_properties=CommitProperties(
                            custom_metadata=commit_metadata(run_id, step)))
        return CommitResult(table, self._table(table).version(), len(records), 1)

    def read_records(self, table: TableId, columns: Sequence[str]) -> list[dict[str, Any]]:
        self._require(table)
        rows: list[dict[str, Any]] = self._table(table).to_pyarrow_table(
            columns=list(columns)).to_pylist()
        return rows

    def merge(self, df: DataFrame, table: TableId, spec: MergeSpec, *,
              run_id: str | None = None, step: str | None = None) -> MergeResult:
        import pyarrow.dataset as pads
        from deltalake import CommitProperties

        if not self.exists(table):
            if not spec.insert:
                return MergeResult(table, None, 0, 0, 0)
            result = self.write(df, table, "append", run_id=run_id, step=step)
            return MergeResult(table, result.version, result.rows, result.rows, 0)
        self._check_schema(table, df.schema)
        schema = self.schema(table)
        # The source is computed once, into a folder inside the table that is not in its log:
        # the key check and the merge read it, and when every key is new those very files are
        # committed (before, a copy in the run's scratch folder was written again as the
        # table's files: a second write of the day's rows).
        source_df = df.select(*schema.fieldNames())
        staging = self._write_folder(source_df, table)
        committed = False  # once the folder's files are the table's, they stay
        try:
            staged = self._read_scratch(staging, source_df)
            if not self.any_key_in(staged, table, spec.keys) and (
                    not spec.insert or spec.insert_when is None):
                if not spec.insert:
                    return MergeResult(table, None, 0, 0, 0)  # nothing to update or delete
                # Only new keys (a new day's transactions): an append. delta-rs would hold the
                # whole target in memory to find that out (1.6 GB for 4 M rows); Spark
                # streams it.
                committed = True
                result = self._commit_folders(table, [staging], schema, "append", [], True,
                                              run_id=run_id, step=step, metadata=None)
                if result.version is None:  # no rows: nothing was committed
                    self.lake.remove(staging)
                return MergeResult(table, result.version, result.rows, result.rows, 0)
            files = [i.path for i in self._written_files(staging)]
            fs, _ = self.lake.filesystem()
            source = pads.dataset(files, format="parquet", filesystem=fs)
            source_rows = source.count_rows()
            if source_rows == 0:
                return MergeResult(table, None, 0, 0, 0)
            dt = self._table(table)
            merger = dt.merge(source.scanner().to_reader(), spec.on, source_alias=SOURCE,
                              target_alias=TARGET, error_on_type_mismatch=False,
                              commit_properties=CommitProperties(
                                  custom_metadata=commit_metadata(run_id, step)))
            if spec.delete_when is not None:
                merger = merger.when_matched_delete(predicate=spec.delete_when)
            if spec.update_set is not None:
                merger = merger.when_matched_update(dict(spec.update_set),
                                                    predicate=spec.update_when)
            elif spec.update_when is not None:
                merger = merger.when_matched_update_all(predicate=spec.update_when)
            if spec.insert:
                merger = merger.when_not_matched_insert_all(predicate=spec.insert_when)
            metrics = merger.execute()
        finally:
            if not committed:  # never in the log: the merge wrote files of its own
                self.lake.remove(staging)
        inserted = int(metrics.get("num_target_rows_inserted", 0))
        updated = int(metrics.get("num_target_rows_updated", 0))
        deleted = int(metrics.get("num_target_rows_deleted", 0))
        version = self._table(table).version() if inserted or updated or deleted else None
        return MergeResult(table, version, source_rows, inserted, updated, deleted)

    def delete(self, table: TableId, predicate: str, *, run_id: str | None = None,
               step: str | None = None) -> int | None:
        from deltalake import CommitProperties

        self._require(table)
        metrics = self._table(table).delete(predicate, commit_properties=CommitProperties(
            custom_metadata=commit_metadata(run_id, step)))
        return self._table(table).version() if metrics.get("num_deleted_rows") else None

    def vacuum(self, table: TableId, retain_hours: int | None = None, *,
               keep_versions: Sequence[int] = (), dry_run: bool = False,
               enforce_retention: bool = True, run_id: str | None = None) -> VacuumResult:
        from deltalake import CommitProperties

        self._require(table)
        dt = self._table(table)
        kept = tuple(sorted({v for v in keep_versions if 0 <= v <= dt.version()}))
        # full: files no commit names too (a killed run's), not only those the log removed
        options: dict[str, Any] = {
            "retention_hours": retain_hours,
            "enforce_retention_duration": enforce_retention, "full": True,
            "keep_versions": list(kept) or None}
        try:
            files = _worth_vacuuming(dt.vacuum(dry_run=True, **options))
            size = self._bytes(table, files)
            if files and not dry_run:
                dt.vacuum(dry_run=False, commit_properties=CommitProperties(
                    custom_metadata=commit_metadata(run_id, "vacuum")), **options)
        except Exception as exc:
            if "retention" in str(exc).lower():
                least = re.search(r"greater than (\d+) hours", str(exc))
                raise LakehouseError(
                    f"cannot vacuum {table} keeping {retain_hours} h: the table keeps removed "
                    f"files for {least.group(1) + ' h' if least else 'longer'}") from None
            raise
        return VacuumResult(table, files, size, kept, dry_run)

    def optimize(self, table: TableId, target_size_mb: int | None = None, *,
                 run_id: str | None = None) -> OptimizeResult:
        from deltalake import CommitProperties

        self._require(table)
        metrics = self._table(table).optimize.compact(
            target_size=target_size_mb * 1024 * 1024 if target_size_mb else None,
            commit_properties=CommitProperties(custom_metadata=commit_metadata(run_id,
                                                                               "optimize")))
        added, removed = int(metrics.get("numFilesAdded", 0)), int(metrics.get(
            "numFilesRemoved", 0))
        return OptimizeResult(table, self._table(table).version() if added or removed else None,
                              removed, added)

    def _checkpoint(self, table: TableId) -> None:
        self._table(table).create_checkpoint()

    def restore(self, table: TableId, version: int, *, run_id: str | None = None) -> int:
        from deltalake import CommitProperties

        self._table(table, version)  # a clear error for a version the table does not have
        try:
            self._table(table).restore(version, commit_properties=CommitProperties(
                custom_metadata=commit_metadata(run_id, "restore")))
        except Exception as exc:
            if "missing file" in str(exc).lower() or "not found" in str(exc).lower():
                raise LakehouseError(f"cannot restore {table} to version {version}: its files "
                                     "were vacuumed") from None
            raise
        return int(self._table(table).version())

    def history(self, table: TableId, limit: int | None = None) -> list[HistoryEntry]:
        self._require(table)
        entries = []
        for item in self._table(table).history(limit):
            # delta-rs keeps custom metadata at the top level, delta-spark in userMetadata
            meta = {**_user_metadata(item.get("userMetadata")), **item}
            entries.append(HistoryEntry(
                version=int(item["version"]),
                timestamp=datetime.fromtimestamp(item["timestamp"] / 1000, tz=UTC),
                operation=str(item.get("operation", "")),
                run_id=meta.get("lakehouse.run_id"),
                step=meta.get("lakehouse.step"),
                metrics=dict(item.get("operationMetrics") or {}),
                metadata={k: str(v) for k, v in meta.items() if k.startswith("lakehouse.")},
                parameters={k: str(v) for k, v in
                            (item.get("operationParameters") or {}).items()},
            ))
        return entries


def _spark_schema(dt: Any) -> StructType:
    """A delta-rs table's schema as Spark's."""
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(dt.schema().to_json()))


def _load_as_of(dt: Any, table: TableId, as_of: datetime | str) -> None:
    """Load the version current at ``as_of``; before the table existed there is none."""
    from deltalake import DeltaTable

    moment = _as_datetime(as_of)
    # history() lists the whole log whatever version is loaded: the oldest entry is the creation
    created = min(e["timestamp"] for e in DeltaTable(dt.table_uri).history()) / 1000
    try:
        if moment.timestamp() < created:
            raise ValueError
        dt.load_as_version(moment)
    except Exception:
        raise LakehouseError(f"{table} has no version at or before "
                             f"{moment.isoformat()}") from None


def _user_metadata(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _check_replace_where(mode: WriteMode, replace_where: str | None) -> None:
    if replace_where is not None and mode != "overwrite":
        raise ValueError(f"replace_where replaces rows: it needs mode 'overwrite', not {mode!r}")


def _short_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------------------------
# delta-spark: the Delta JVM classes do everything


class DeltaSparkIO(DeltaIO):
    implementation = "delta-spark"

    def _path(self, table: TableId) -> str:
        return spark_path(self.uri(table))

    def _delta_table(self, table: TableId) -> Any:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self._path(table))

    def exists(self, table: TableId) -> bool:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, self._path(table)))

    def version(self, table: TableId) -> int | None:
        if not self.exists(table):
            return None
        return int(self._delta_table(table).history(1).select("version").first()[0])

    def schema(self, table: TableId) -> StructType:
        self._require(table)
        return self._delta_table(table).toDF().schema

    def read(self, table: TableId, version: int | None = None,
             as_of: datetime | str | None = None) -> DataFrame:
        self._require(table)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        elif as_of is not None:
            reader = reader.option("timestampAsOf",
                                   _as_datetime(as_of).strftime("%Y-%m-%d %H:%M:%S.%f"))
        return reader.load(self._path(table))

    def _user_metadata(self, run_id: str | None, step: str | None,
                       extra: Mapping[str, str] | None = None) -> str:
        return json.dumps(commit_metadata(run_id, step, extra), separators=(",", ":"))

    def write(self, df: DataFrame, table: TableId, mode: WriteMode = "append", *,
              run_id: str | None = None, step: str | None = None,
              metadata: Mapping[str, str] | None = None, replace_where: str | None = None,
              cluster_by: str | None = None) -> CommitResult:
        _check_replace_where(mode, replace_where)
        exists = self.exists(table)
        if exists:
            self._check_schema(table, df.schema)
            df = df.select(*self.schema(table).fieldNames())
        before = self.version(table)
        replacing = replace_where is not None and exists
        if replacing:
            self._check_rows_match(df, table, str(replace_where))
            metadata = {**(metadata or {}), "replace_where": str(replace_where)}
        writer = (self._clustered(df, cluster_by).write.format("delta").mode(mode)
                  .option("userMetadata", self._user_metadata(run_id, step, metadata)))
        if replacing:
            # Delta rewrites only the files holding rows that match the predicate
            writer = writer.option("replaceWhere", replace_where)
        writer.save(self._path(table))
        after = self.version(table)
        if after == before:
            return CommitResult(table, None, 0, 0)
        metrics = self._delta_table(table).history(1).select("operationMetrics").first()[0] or {}
        return CommitResult(table, after, int(metrics.get("numOutputRows", 0)),
                            int(metrics.get("numFiles", 0)))

    def merge(self, df: DataFrame, table: TableId, spec: MergeSpec, *,
              run_id: str | None = None, step: str | None = None) -> MergeResult:
        if not self.exists(table):
            if not spec.insert:
                return MergeResult(table, None, 0, 0, 0)
            result = self.write(df, table, "append", run_id=run_id, step=step)
            return MergeResult(table, result.version, result.rows, result.rows, 0)
        self._check_schema(table, df.schema)
        before = self.version(table)
        with self._commit_info(run_id, step):
            builder = self._delta_table(table).alias(TARGET).merge(df.alias(SOURCE), spec.on)
            if spec.delete_when is not None:
                builder = builder.whenMatchedDelete(condition=spec.delete_when)
            if spec.update_set is not None:
                builder = builder.whenMatchedUpdate(condition=spec.update_when,
                                                    set=dict(spec.update_set))
            elif spec.update_when is not None:
                builder = builder.whenMatchedUpdateAll(condition=spec.update_when)
            if spec.insert:
                builder = builder.whenNotMatchedInsertAll(condition=spec.insert_when)
            builder.execute()
        after = self.version(table)
        if after == before:
            return MergeResult(table, None, df.count(), 0, 0)
        metrics = self._delta_table(table).history(1).select("operationMetrics").first()[0] or {}
        return MergeResult(table, after, int(metrics.get("numSourceRows", 0)),
                           int(metrics.get("numTargetRowsInserted", 0)),
                           int(metrics.get("numTargetRowsUpdated", 0)),
                           int(metrics.get("numTargetRowsDeleted", 0)))

    @contextlib.contextmanager
    def _commit_info(self, run_id: str | None, step: str | None) -> Iterator[None]:
        """The lakehouse metadata of the commits made meanwhile (delta-spark's userMetadata)."""
        self.spark.conf.set("spark.databricks.delta.commitInfo.userMetadata",
                            self._user_metadata(run_id, step))
        try:
            yield
        finally:
            self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")

    def delete(self, table: TableId, predicate: str, *, run_id: str | None = None,
               step: str | None = None) -> int | None:
        self._require(table)
        before = self.version(table)
        with self._commit_info(run_id, step):
            self._delta_table(table).delete(predicate)
        after = self.version(table)
        return after if after != before else None

    def vacuum(self, table: TableId, retain_hours: int | None = None, *,
               keep_versions: Sequence[int] = (), dry_run: bool = False,
               enforce_retention: bool = True, run_id: str | None = None) -> VacuumResult:
        self._require(table)
        # delta-spark's VACUUM removes files no commit names as well; it cannot keep a version,
        # so it is refused when it would take a file of one that must be kept
        retain = "" if retain_hours is None else f" RETAIN {retain_hours} HOURS"
        statement = f"VACUUM delta.`{self._path(table)}`{retain}"
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        self.spark.conf.set(check, str(enforce_retention).lower())
        try:
            files = _worth_vacuuming([r[0] for r in
                                      self.spark.sql(f"{statement} DRY RUN").collect()])
            kept = tuple(sorted(set(keep_versions)))
            needed = {f for v in kept for f in self.read(table, version=v).inputFiles()}
            taken = sorted(needed & set(files))
            if taken:
                raise LakehouseError(f"cannot vacuum {table}: it would remove {len(taken)} file(s) "
                                     f"of version(s) {', '.join(map(str, kept))}, which must be "
                                     "kept (published snapshots); give a longer retention")
            size = self._bytes(table, files)
            if files and not dry_run:
                with self._commit_info(run_id, "vacuum"):
                    self.spark.sql(statement).collect()
        finally:
            self.spark.conf.unset(check)
        return VacuumResult(table, files, size, kept, dry_run)

    def optimize(self, table: TableId, target_size_mb: int | None = None, *,
                 run_id: str | None = None) -> OptimizeResult:
        self._require(table)
        before = self.version(table)
        size = "spark.databricks.delta.optimize.maxFileSize"
        if target_size_mb:
            self.spark.conf.set(size, str(target_size_mb * 1024 * 1024))
        try:
            with self._commit_info(run_id, "optimize"):
                row = self._delta_table(table).optimize().executeCompaction().first()
        finally:
            if target_size_mb:
                self.spark.conf.unset(size)
        metrics = row["metrics"] if row is not None else None
        after = self.version(table)
        return OptimizeResult(table, after if after != before else None,
                              int(metrics["numFilesRemoved"]) if metrics else 0,
                              int(metrics["numFilesAdded"]) if metrics else 0)

    def restore(self, table: TableId, version: int, *, run_id: str | None = None) -> int:
        self._require(table)
        with self._commit_info(run_id, "restore"):
            self._delta_table(table).restoreToVersion(version)
        return int(self.version(table) or 0)

    def _checkpoint(self, table: TableId) -> None:
        self._require(table)
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession,
                                                         self._path(table)).checkpoint()

    def history(self, table: TableId, limit: int | None = None) -> list[HistoryEntry]:
        self._require(table)
        frame = self._delta_table(table).history(limit) if limit else \
            self._delta_table(table).history()
        entries = []
        for row in frame.select("version", "timestamp", "operation", "userMetadata",
                                "operationMetrics", "operationParameters").collect():
            meta = json.loads(row["userMetadata"]) if row["userMetadata"] else {}
            entries.append(HistoryEntry(
                version=int(row["version"]),
                timestamp=row["timestamp"].replace(tzinfo=UTC),
                operation=row["operation"],
                run_id=meta.get("lakehouse.run_id"),
                step=meta.get("lakehouse.step"),
                metrics=dict(row["operationMetrics"] or {}),
                metadata={k: str(v) for k, v in meta.items() if k.startswith("lakehouse.")},
                parameters={k: str(v) for k, v in (row["operationParameters"] or {}).items()},
            ))
        return entries


    def appended_since(self, table: TableId, since: int, version: int) -> DataFrame | None:
        self._require(table)
        if since > version:
            return None
        commits = (self._delta_table(table).history()
                   .where(f"version > {since} AND version <= {version}")
                   .select("operation", "operationParameters", "operationMetrics").collect())
        if len(commits) != version - since or not all(map(_only_adds, commits)):
            return None
        try:
            kept = set(self.read(table, since).inputFiles())
        except Exception:  # the log of version ``since`` was cleaned up
            return None
        # files a commit only added hold no deletion vector, so they read as plain Parquet
        current = self.read(table, version)
        files = current.inputFiles()
        if not kept <= set(files):
            return None
        return self._read_files([f for f in files if f not in kept], current.schema)


def _only_adds(commit: Any) -> bool:
    """A delta-spark history row that added files and removed none (or changed no file)."""
    params, metrics = commit["operationParameters"] or {}, commit["operationMetrics"] or {}
    if commit["operation"] in MAINTENANCE_OPERATIONS:
        return True  # a vacuum: no file of the snapshot added or removed
    if commit["operation"] == "WRITE":
        return params.get("mode") == "Append"
    if commit["operation"] == "MERGE":
        return all(metrics.get(m, "0") == "0" for m in (
            "numTargetFilesRemoved", "numTargetRowsUpdated", "numTargetRowsDeleted"))
    return False


# --------------------------------------------------------------------------------------------


# Whether each Spark application (by its id) has the Delta classes: its classpath is set as it
# starts. Asked again, the JVM's failed class lookup (and its exception's way through the
# bridge) took 0.18 s of each step's start.
_DELTA_JARS: dict[str, bool] = {}


def delta_jars_present(spark: SparkSession) -> bool:
    """True when Spark can load the Delta Lake JVM classes (Glue, or Spark with the Delta jars)."""
    application = spark.sparkContext.applicationId
    if application not in _DELTA_JARS:
        _DELTA_JARS[application] = _loads_delta_classes(spark)
    return _DELTA_JARS[application]


def _loads_delta_classes(spark: SparkSession) -> bool:
    try:
        jvm: Any = spark.sparkContext._jvm
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False, loader)
    except Exception:
        return False
    return True


def delta_io(spark: SparkSession | None, lake: Lake, prefer: str | None = None) -> DeltaIO:
    """delta-spark when its JVM classes are present, else delta-rs (``prefer`` forces one).

    Without a session (metadata only: versions, history) delta-rs reads the log directly; the
    log is the same whichever implementation wrote it.
    """
    choice = prefer or ("delta-spark" if spark is not None and delta_jars_present(spark)
                        else "delta-rs")
    if choice == "delta-spark":
        return DeltaSparkIO(spark, lake)
    if choice == "delta-rs":
        return DeltaRsIO(spark, lake)
    raise LakehouseError(f"unknown Delta implementation {choice!r} (delta-spark or delta-rs)")



# What a plain scan's column may be for ``scanned_to_pandas``: types that Spark's ``toPandas``
# and pyarrow turn into the same pandas values (decimals converted as below).
_ARROW_LIKE_SPARK = ("StringType", "BooleanType", "ByteType", "ShortType", "IntegerType",
                     "LongType", "FloatType", "DoubleType", "DecimalType", "DateType",
                     "TimestampType")
_EXACT_DOUBLES = 2 ** 53  # integers a double holds exactly
_INT64_DIGITS = 18  # a decimal of at most this precision has an int64 unscaled value


def scanned_to_pandas(df: DataFrame, columns: Sequence[str]) -> Any | None:
    """``columns`` of ``df`` as pandas, equal to what Spark's ``toPandas`` gives for them with
    decimals cast to double, read by pyarrow without a Spark job; None (ask Spark) unless
    ``df`` is a plain scan of local Parquet files (``scanned_arrow``) in a UTC session and
    every column is of a type both turn into the same values (decimals of at most 18 digits).

    A day's Silver gate at 4 M rows collected its 44 k-row batch in a Spark job and Arrow's
    transfer: 1.9 s. Decimals become doubles as Spark casts them, exactly (the nearest double);
    pyarrow's own cast is not (14% of the cent amounts from -2,000.00 to 2,000.00 came out
    an ulp off)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    types = {f.name: f.dataType for f in df.schema.fields}
    if not all(_arrow_like_spark(types[c]) for c in columns) \
            or df.sparkSession.conf.get("spark.sql.session.timeZone") != "UTC":
        return None
    table = scanned_arrow(df, columns)
    if table is None:
        return None
    converted = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_decimal(column.type):
            scale = column.type.scale
            unscaled = pc.cast(pc.multiply(column, pa.scalar(Decimal(10 ** scale),
                                                              pa.decimal128(19, 0))), pa.int64())
            if (pc.max(pc.abs(unscaled)).as_py() or 0) >= _EXACT_DOUBLES:
                return None
            column = pc.divide(pc.cast(unscaled, pa.float64()), float(10 ** scale))
        elif pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))  # UTC, as the session's
        converted.append(column)
    return pa.table(converted, names=table.column_names).to_pandas()


def scanned_arrow(df: DataFrame, columns: Sequence[str]) -> Any | None:
    """``columns`` of ``df`` as a pyarrow table, their values as stored (decimals exact), read
    without a Spark job; None (ask Spark) unless ``df`` is a plain scan of local Parquet files
    without partition columns: what ``DeltaIO.stage`` and ``prepare`` return, and a Delta
    table's snapshot read by ``DeltaRsIO``."""
    import pyarrow as pa

    dataset = _scanned_dataset(df)
    if dataset is None:
        return None
    try:
        return dataset.to_table(columns=list(columns))
    except (pa.ArrowException, OSError) as error:
        log.debug("read by Spark: pyarrow cannot read %s (%s)", dataset.files[0], error)
        return None


def scanned_counts(df: DataFrame, columns: Sequence[str]) -> dict[tuple[Any, ...], int] | None:
    """The rows of ``df`` per distinct value of ``columns`` (a tuple each, nulls as None), read
    without a Spark job (``scanned_each``); None (ask Spark) unless ``df`` is a plain scan."""
    import pyarrow as pa

    counts: dict[tuple[Any, ...], int] = defaultdict(int)

    def add(batch: pa.RecordBatch) -> None:
        grouped = pa.Table.from_batches([batch]).group_by(list(columns)).aggregate(
            [([], "count_all")])
        for row in grouped.to_pylist():
            counts[tuple(row[c] for c in columns)] += row["count_all"]

    return dict(counts) if scanned_each(df, columns, add) else None


# At most this many rows are read by pyarrow in the driver (``scanned_each``); more are left to
# Spark, whose job then costs little beside the rows' own work. Bounded so that the driver's
# memory does not grow with the tables: a 4 M-row full load's batch, counted by pyarrow, raised
# the driver's peak from about 430 MB to 786 MB (pyarrow's read-ahead, since limited) and still
# by 86 MB, for 0.3 s saved.
SCANNED_ROWS = 250_000


def scanned_each(df: DataFrame, columns: Sequence[str], take: Callable[[Any], None]) -> bool:
    """Gives ``take`` each non-empty batch of rows (a pyarrow ``RecordBatch`` of ``columns``,
    values as stored, text as dictionaries) of ``df`` in turn, read without a Spark job: the
    driver holds one batch at a time. False (ask Spark; whatever ``take`` gathered is to be
    thrown away) unless ``df`` is a plain scan (``scanned_arrow``) of at most ``SCANNED_ROWS``
    rows (counted from its footers) that pyarrow reads to the end."""
    import pyarrow as pa

    dataset = _scanned_dataset(df, columns)
    if dataset is None or sum(f.metadata.num_rows for f in dataset.get_fragments()) \
            > SCANNED_ROWS:
        return False
    try:
        # one batch read ahead, of one file: pyarrow's defaults (16 batches of 4 files) held
        # 420 MB more in the driver for two text columns of 4 M rows
        for batch in dataset.to_batches(columns=list(columns), batch_readahead=1,
                                        fragment_readahead=1, use_threads=False):
            if batch.num_rows:
                take(batch)
    except (pa.ArrowException, OSError) as error:
        log.debug("left to Spark: pyarrow cannot read %s (%s)", dataset.files[0], error)
        return False
    return True


def _scanned_dataset(df: DataFrame, dictionaries: Sequence[str] = ()) -> Any | None:
    """``df``'s files as a pyarrow dataset when it is a plain scan of local Parquet files
    without partition columns; else None. ``dictionaries``: text columns read as dictionaries
    (each distinct value decoded once, an index per row)."""
    import pyarrow.dataset as ds

    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() != "LogicalRelation":
        return None
    relation = plan.relation()
    if (relation.getClass().getSimpleName() != "HadoopFsRelation"
            or relation.location().getClass().getSimpleName() != "InMemoryFileIndex"
            or relation.fileFormat().getClass().getSimpleName() != "ParquetFileFormat"
            or relation.partitionSchema().length() != 0):
        return None
    paths = []
    for uri in df.inputFiles():
        scheme, _, path = uri.partition(":")
        if scheme != "file":
            return None
        paths.append(unquote("/" + path.lstrip("/")))
    if not paths:
        return None
    return ds.dataset(sorted(paths), format=ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(dictionary_columns=set(dictionaries))))


def _arrow_like_spark(data_type: Any, element: bool = False) -> bool:
    """Whether a column of ``data_type`` (an array's elements: ``element``) becomes the same
    pandas values either way; decimals and timestamps only as columns of their own (converted
    by ``scanned_to_pandas``), an array only of other types."""
    name = type(data_type).__name__
    if name == "ArrayType":
        return not element and _arrow_like_spark(data_type.elementType, element=True)
    if element and name in ("DecimalType", "TimestampType"):
        return False
    if name == "DecimalType" and data_type.precision > _INT64_DIGITS:
        return False  # its unscaled values (and their product by 10^scale) overflow pyarrow's
    return name in _ARROW_LIKE_SPARK


@dataclass(frozen=True)
class Snapshot:
    """One version of a table as files on storage, read without Spark (delta-rs reads the log
    whichever implementation wrote it)."""

    table: TableId
    version: int
    files: tuple[str, ...]
    schema: Any  # pyarrow.Schema


def snapshot(lake: Lake, table: TableId, version: int | None = None,
             as_of: datetime | str | None = None) -> Snapshot:
    """The files and schema of a table's current version, or of ``version`` / ``as_of``."""
    import pyarrow as pa
    from deltalake import DeltaTable

    io = DeltaRsIO(None, lake)
    io._require(table)
    dt = io._table(table, version)
    if as_of is not None and version is None:
        _load_as_of(dt, table, as_of)
    schema = pa.schema(DeltaTable.schema(dt).to_arrow())
    files = tuple(dt.file_uris())
    if version is not None or as_of is not None:
        _require_files(lake, table, dt.version(), files)
    return Snapshot(table, dt.version(), files, schema)


def _require_files(lake: Lake, table: TableId, version: int, files: Sequence[str]) -> None:
    """An earlier version is readable only while a vacuum has left its files (its log entries
    outlive them): a clear error otherwise, not the reader's "file not found"."""
    fs, _ = lake.filesystem()
    infos = fs.get_file_info([lake.fs_path(f) for f in files])
    missing = sum(1 for info in infos if info.type == pafs.FileType.NotFound)
    if missing:
        raise LakehouseError(
            f"{table} version {version} can no longer be read: {missing} of its {len(files)} "
            "data file(s) were removed by a vacuum; read a later version ('lakehouse history "
            f"{table}' lists them)")


def data_bytes(lake: Lake, table: TableId) -> int:
    """The size of a table's current data files (0 when there is no table), read from its log
    without Spark."""
    import pyarrow as pa

    io = DeltaRsIO(None, lake)
    if not io.exists(table):
        return 0
    sizes = pa.table(io._table(table).get_add_actions(flatten=True)).column("size_bytes")
    return int(sum(sizes.to_pylist()))
