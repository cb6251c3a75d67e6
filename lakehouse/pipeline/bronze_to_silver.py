"""Landing -> Bronze -> Silver for every configured source, incrementally and idempotently.

Phase 1, per entity: new landing files (by content hash) are appended to ``bronze.<source>``; the
run's Bronze rows are parsed, checked and classified; the entity's quality gate validates the
batch. (A batch of one partition's worth of new files, a day's, is parsed from the very rows
read for Bronze while Bronze writes them; the gate waits for Bronze's commit.) Phase 2: only
if every gate passed are clean rows merged into ``silver.<entity>`` (and its SCD2 history).
Either way the evidence is written - quarantine rows, ``ops.ingested_files``, ``ops.run_log``,
``ops.dq_results`` - and a blocked run exits with code 2. Files of a blocked run are replayed
from Bronze by the next run, so nothing is loaded twice. So are the files of a run that crashed
after appending them to Bronze but before recording them (each Bronze commit names its files
and their content hashes). A run with no new files writes nothing at all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.bronze.ingest import bronze_table, with_lineage
from lakehouse.config import Settings, SourceConfig
from lakehouse.errors import ConfigError, LakehouseError, LandingError
from lakehouse.io.delta import (
    CommitResult,
    DeltaIO,
    MergeSpec,
    Prepared,
    PreparedLater,
    Target,
    WriteMode,
    delta_io,
    scanned_counts,
)
from lakehouse.io.lake import TableId
from lakehouse.io.landing import (
    SOURCE_FILE,
    LandingEntry,
    LandingFile,
    fingerprint,
    list_landing,
    read_raw,
)
from lakehouse.ops import tables as ops
from lakehouse.pii.columns import (
    CARD_NUMBER_FOUND,
    KeyedToken,
    redact_card_numbers,
    with_card_number_flag,
)
from lakehouse.pii.keys import resolve_token_key
from lakehouse.pipeline.faults import fault_point
from lakehouse.pipeline.run import (
    NOT_WITH_FULL_REFRESH,
    Progress,
    Reprocess,
    RunReport,
    StepTimer,
    lake_lock,
    new_run_id,
)
from lakehouse.quality.gates import (
    DQ_RESULTS,
    DQ_RESULTS_SCHEMA,
    GateResult,
    QualityGates,
    results_records,
)
from lakehouse.quality.keys import with_gate_key
from lakehouse.reference import load_reference_values
from lakehouse.runtime.spark import local_frame, spark_step
from lakehouse.silver import ENTITIES, Entity, scd2
from lakehouse.silver.batch import CLEAN, DUPLICATE, OUTCOME, QUARANTINED, classify, to_quarantine
from lakehouse.silver.entity import ROW_HASH
from lakehouse.silver.expectations import silver_expectations
from lakehouse.silver.fields import RAW_VALUES, check_parsing, parse_fields, unscanned_columns

log = logging.getLogger(__name__)

# Bronze commit metadata naming the files appended (path -> content hash)
_BRONZE_FILES = "files"


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class _Manifest:
    """What earlier runs did with landing files."""

    identities: frozenset[tuple[str, int, int]]  # settled files: path, size, mtime (ms)
    hashes: frozenset[str]                       # settled content
    blocked: dict[str, str]                      # content held back by a gate -> its run id
    runs: dict[str, frozenset[str]] = field(default_factory=dict)  # source -> runs recorded
    blocked_rows: dict[str, int] = field(default_factory=dict)  # held-back content -> its rows

    @classmethod
    def empty(cls) -> _Manifest:
        return cls(frozenset(), frozenset(), {})

    @classmethod
    def load(cls, delta: DeltaIO) -> _Manifest:
        if not delta.exists(ops.INGESTED_FILES):
            return cls.empty()
        rows = [r for r in delta.read_records(ops.INGESTED_FILES, (
            "source", "path", "size", "modified_at", "content_hash", "outcome", "run_id",
            "ingested_at", "rows_in")) if r["content_hash"] is not None]
        settled = [r for r in rows if r["outcome"] in ops.SETTLED]
        # content settled on its own: a copy's record (duplicate_file) settles only the copy;
        # its content is the original's, which a gate may still hold back
        hashes = frozenset(r["content_hash"] for r in settled
                           if r["outcome"] != ops.DUPLICATE_FILE)
        blocked: dict[str, str] = {}
        blocked_rows: dict[str, int] = {}
        for r in sorted(rows, key=lambda r: r["ingested_at"]):
            if r["outcome"] == ops.BLOCKED and r["content_hash"] not in hashes:
                blocked[r["content_hash"]] = r["run_id"]
                blocked_rows[r["content_hash"]] = r["rows_in"]
        runs: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            runs[r["source"]].add(r["run_id"])
        return cls(frozenset((r["path"], r["size"], int(r["modified_at"].timestamp() * 1000))
                             for r in settled), hashes, blocked,
                   {source: frozenset(ids) for source, ids in runs.items()}, blocked_rows)


@dataclass(frozen=True)
class _SourceBatch:
    source: SourceConfig
    new: list[LandingFile]                      # to load into Bronze, in path order
    replay: list[tuple[LandingFile, str]]       # already in Bronze from a blocked or crashed run
    settled: list[ops.IngestedFile]             # recorded without rows (empty, rejected, copies)
    skipped: int                                # settled by an earlier run, untouched since
    reprocessed: tuple[str, ...] = ()           # of ``replay``: settled, asked for again

    @property
    def files(self) -> list[LandingFile]:
        return self.new + [f for f, _ in self.replay]


# Landing bytes per partition of a batch (about 250 k transaction rows); gzip counted as 8x.
_BYTES_PER_PARTITION = 64 * 1024 * 1024
_GZIP_RATIO = 8
# A batch of new files up to this size (one partition's worth: a day's) is parsed from the rows
# read for Bronze while Bronze writes them (BronzeToSilver._prepare).
_ALONGSIDE_BYTES = _BYTES_PER_PARTITION
# Entities read, parsed and classified at once (BronzeToSilver._prepare_all)
_ENTITIES_AT_ONCE = 3


def _landing_data_bytes(file: LandingFile | LandingEntry) -> int:
    """A landing file's size as data: gzip counted as 8x."""
    return file.size * (_GZIP_RATIO if file.relative.endswith(".gz") else 1)


def _batch_bytes(file_groups: Iterable[list[LandingFile]]) -> int:
    return sum(_landing_data_bytes(f) for files in file_groups for f in files)


def _partitions_for(file_groups: Iterable[list[LandingFile]]) -> int:
    """How many partitions a batch of these landing files needs (at least one)."""
    return max(1, -(-_batch_bytes(file_groups) // _BYTES_PER_PARTITION))


def pending_landing_bytes(settings: Settings, delta: DeltaIO, *, full_refresh: bool,
                          reprocess: Reprocess | None = None) -> int:
    """The data a run would load: landing files no earlier run settled (every file on a full
    refresh), and those it reprocesses, gzip counted as 8x. Nothing is read but the listing and
    ``ops.ingested_files``."""
    manifest = _Manifest.empty() if full_refresh else _Manifest.load(delta)
    return sum(_landing_data_bytes(entry) for source in settings.sources.values()
               for entry in list_landing(settings.landing_root, source)
               if entry.identity not in manifest.identities
               or (reprocess is not None and reprocess.covers(entry.relative)))


def plan_entities(settings: Settings) -> dict[Entity, list[SourceConfig]]:
    """Which sources feed which Silver entity; every source must fit its entity."""
    plan: dict[Entity, list[SourceConfig]] = defaultdict(list)
    for source in settings.sources.values():
        entity = ENTITIES.get(source.entity)
        if entity is None:
            raise ConfigError(f"source {source.name}: unknown entity {source.entity!r} "
                              f"(known: {', '.join(sorted(ENTITIES))})")
        entity.check_source(source)
        plan[entity].append(source)
    return dict(plan)


def _select(source: SourceConfig, entries: Sequence[LandingEntry], manifest: _Manifest,
            run_id: str, now: datetime,
            unrecorded: Mapping[tuple[str, str], str] | None = None,
            reprocess: Reprocess | None = None,
            in_bronze: Mapping[tuple[str, str], str] | None = None) -> _SourceBatch:
    """Sort landing files into new, replayed, recorded-only and skipped. ``unrecorded``: files
    (path, content hash) a crashed run appended to Bronze without recording -> that run's id.
    ``reprocess``: the files of those days are replayed from Bronze although settled;
    ``in_bronze``: (path, content hash) -> the run whose Bronze rows hold the file."""
    unrecorded = unrecorded or {}
    in_bronze = in_bronze or {}
    landed = {entry.relative for entry in entries}
    new: list[LandingFile] = []
    replay: list[tuple[LandingFile, str]] = []
    settled: list[ops.IngestedFile] = []
    first_with_hash: dict[str, str] = {}
    skipped = 0
    reprocessed: list[str] = []

    def record(file: LandingFile, outcome: str, note: str | None) -> ops.IngestedFile:
        return ops.IngestedFile(source.name, file.relative, file.size, file.modified,
                                file.content_hash, run_id, now, outcome, note, 0, 0, 0, 0)

    for entry in entries:
        again = reprocess is not None and reprocess.covers(entry.relative)
        if entry.identity in manifest.identities and not again:
            skipped += 1  # already settled and untouched since: not even read again
            continue
        file = fingerprint(source, entry)
        loaded = in_bronze.get((file.relative, file.content_hash or ""))
        if again and loaded is not None and file.content_hash in manifest.hashes:
            replay.append((file, loaded))  # its rows again, from Bronze
            reprocessed.append(file.relative)
        elif again and file.content_hash in manifest.hashes:
            skipped += 1  # settled without rows of its own in Bronze (empty, a copy, ...)
        elif file.content_hash in manifest.hashes:
            settled.append(record(file, ops.DUPLICATE_FILE,
                                  "same content as a file ingested by an earlier run"))
        elif file.content_hash and file.content_hash in first_with_hash:
            settled.append(record(file, ops.DUPLICATE_FILE,
                                  f"same content as {first_with_hash[file.content_hash]}"))
        elif file.content_hash in manifest.blocked and loaded is None \
                and (original := _held_under(file, in_bronze, landed,
                                             still_landed=True)) is not None:
            # a copy of a held-back file whose original is still landed (and listed later):
            # the original is replayed, the copy settles itself only
            settled.append(record(file, ops.DUPLICATE_FILE, f"same content as {original[0]}, "
                                  "held back by a quality gate"))
            continue  # the original, listed later, is the content's first file
        elif file.content_hash in manifest.blocked and loaded is None \
                and (moved := _held_under(file, in_bronze, landed,
                                          still_landed=False)) is not None:
            # moved or renamed since a gate held it back (it is no longer landed where Bronze
            # holds its rows): its rows are replayed as the file they were loaded as, and this
            # one settles as a copy of it
            bronze_path, run = moved
            settled.append(record(file, ops.DUPLICATE_FILE,
                                  f"same content as {bronze_path}, held back by a quality gate "
                                  "and no longer landed there: its rows were replayed from "
                                  "Bronze under that path"))
            replay.append((replace(file, relative=bronze_path), run))
        elif file.content_hash in manifest.blocked:
            # its rows are those of the run that appended it to Bronze, which is not the run
            # that last recorded it blocked when it was blocked again on a replay
            replay.append((file, loaded or manifest.blocked[file.content_hash]))
        elif file.content_hash and (file.relative, file.content_hash) in unrecorded:
            replay.append((file, unrecorded[(file.relative, file.content_hash)]))
        elif file.problem:
            outcome = ops.EMPTY if file.problem == "empty file" else ops.REJECTED
            settled.append(record(file, outcome, file.problem))
        else:
            new.append(file)
        if file.content_hash:
            first_with_hash.setdefault(file.content_hash, file.relative)
    return _SourceBatch(source, new, replay, settled, skipped, tuple(reprocessed))


def _held_under(file: LandingFile, in_bronze: Mapping[tuple[str, str], str],
                landed: set[str], *, still_landed: bool) -> tuple[str, str] | None:
    """Another path under which Bronze holds ``file``'s content (the first in path order),
    one still landed or one no longer landed, and the run whose rows hold it."""
    return next(((path, run) for (path, content_hash), run in sorted(in_bronze.items())
                 if content_hash == file.content_hash and path != file.relative
                 and (path in landed) == still_landed), None)


def _unrecorded(loads: Sequence[tuple[str, dict[str, str]]],
                recorded: frozenset[str]) -> dict[tuple[str, str], str]:
    """Files in Bronze that no run recorded (``loads``: ``BronzeToSilver._bronze_loads``):
    appended by a run that crashed before writing ``ops.ingested_files``. The next run replays
    their rows rather than appending the files again (Bronze stays append-only and holds each
    file once). (path, content hash) -> the run whose rows hold it."""
    found: dict[tuple[str, str], str] = {}
    for run_id, files in loads:  # newest first
        if run_id in recorded:
            break  # runs are serialised: this one settled or replayed everything before it
        for path, content_hash in files.items():
            found.setdefault((path, content_hash), run_id)
    return found


def _loaded_by(loads: Sequence[tuple[str, dict[str, str]]]) -> dict[tuple[str, str], str]:
    """Every file Bronze holds (``loads``, newest first): (path, content hash) -> the run whose
    rows hold it, the first to load it (an older load overwrites a newer one here)."""
    return {(path, content_hash): run_id for run_id, files in loads
            for path, content_hash in files.items()}


def _paths_by_run(replay: Sequence[tuple[LandingFile, str]]) -> dict[str, list[str]]:
    """Held-back files grouped by the run whose Bronze rows hold them."""
    by_run: dict[str, list[str]] = defaultdict(list)
    for file, run_id in replay:
        by_run[run_id].append(file.relative)
    return by_run


@dataclass
class _EntityBatch:
    """One entity's work in this run, between the two phases."""

    entity: Entity
    sources: list[SourceConfig]
    batches: list[_SourceBatch]
    steps: list[ops.RunStep] = field(default_factory=list)
    classified: DataFrame | None = None
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    gate: GateResult | None = None
    prepare_seconds: float = 0.0  # parse, classify and count (phase 1), gate excluded
    ahead: PreparedLater | None = None  # its writes, prepared while its gate runs

    @property
    def replayed(self) -> list[tuple[LandingFile, str]]:
        return [r for b in self.batches for r in b.replay]


def _check_replays(work: Sequence[_EntityBatch], manifest: _Manifest) -> None:
    """Every file a gate held back yields, replayed from Bronze, the rows the run that held it
    back counted; a file that yields fewer (its rows are not where Bronze's history and
    ``ops.ingested_files`` say, e.g. the history's entry for its load is gone) stops the run
    before anything is published, rather than being settled with rows missing."""
    for item in work:
        for batch in item.batches:
            for file, run_id in batch.replay:
                expected = manifest.blocked_rows.get(file.content_hash or "")
                if expected is None or file.relative in batch.reprocessed:
                    continue
                found = sum(item.per_file.get(file.relative, {}).values())
                if found != expected:
                    raise LakehouseError(
                        f"{batch.source.name}: {file.relative} was held back by a quality gate "
                        f"with {expected:,} row(s), but replaying it from Bronze (the rows run "
                        f"{run_id} appended) found {found:,}; nothing was published. "
                        "Bronze's history no longer says under which path its rows were "
                        "loaded: land it under that path again, or run with --full-refresh")


class BronzeToSilver:
    """One run of the Bronze -> Silver step over all sources."""

    def __init__(self, settings: Settings, spark: SparkSession, *, full_refresh: bool = False,
                 progress: Progress = _quiet, run_id: str | None = None,
                 gates: QualityGates | None = None, report: RunReport | None = None,
                 render_docs: bool = True, reprocess: Reprocess | None = None) -> None:
        self.settings = settings
        self.spark = spark
        self.lake = settings.lake()
        self.delta = delta_io(spark, self.lake)
        self.full_refresh = full_refresh
        if full_refresh and reprocess is not None:
            raise LakehouseError(NOT_WITH_FULL_REFRESH)
        self.reprocess = reprocess
        self.progress = progress
        self.now = datetime.now(UTC)
        self.run_id = report.run_id if report else (run_id or new_run_id(self.now))
        self.report = report or RunReport(self.run_id)
        self.references = load_reference_values(settings.reference_dir)
        self.notes: dict[str, str] = {}  # landing path -> what was noticed reading it
        self.gates = gates or QualityGates.of(settings)
        self.render_docs = render_docs  # False: the caller renders Data Docs (the workflow, once)
        self._tokenize: KeyedToken | None = None
        self._ahead: ThreadPoolExecutor | None = None  # prepares writes while gates run (run)

    @property
    def tokenize(self) -> KeyedToken:
        if self._tokenize is None:
            key = resolve_token_key(self.settings.tokenization, self.lake)
            self._tokenize = KeyedToken(self.spark, key)
        return self._tokenize

    @property
    def mode(self) -> WriteMode:
        return "overwrite" if self.full_refresh else "append"

    def _step(self, step: str, what: str) -> AbstractContextManager[None]:
        """The Spark jobs started inside, named after their step in the run log."""
        return spark_step(self.spark, self.run_id, step, what)

    def run(self) -> RunReport:
        plan = plan_entities(self.settings)
        manifest = _Manifest.empty() if self.full_refresh else _Manifest.load(self.delta)
        work: list[_EntityBatch] = []
        for entity, sources in plan.items():
            batches = []
            for source in sources:
                entries = list_landing(self.settings.landing_root, source)
                pending = any(e.identity not in manifest.identities for e in entries)
                again = self.reprocess is not None and any(
                    self.reprocess.covers(e.relative) for e in entries)
                loads = self._bronze_loads(source) if pending or again else []
                batch = _select(source, entries, manifest, self.run_id, self.now,
                                _unrecorded(loads, manifest.runs.get(source.name, frozenset()))
                                if pending else None,
                                self.reprocess, _loaded_by(loads))
                replayed = len(batch.replay) - len(batch.reprocessed)
                self.progress(f"{source.name}: {len(entries)} landing file(s), "
                              f"{len(batch.new)} new"
                              + (f", {replayed} to replay from Bronze" if replayed else "")
                              + (f", {len(batch.reprocessed)} to reprocess from Bronze "
                                 f"({self.reprocess.describe()})" if self.reprocess and again
                                 else ""))
                for path in batch.reprocessed:
                    self.notes[path] = "reprocessed (--from/--to)"
                batches.append(batch)
            self.report.skipped_files += sum(b.skipped for b in batches)
            self.report.reprocessed_files += sum(len(b.reprocessed) for b in batches)
            self.report.replayed_files += sum(len(b.replay) - len(b.reprocessed)
                                              for b in batches)
            if any(b.new or b.replay or b.settled for b in batches):
                work.append(_EntityBatch(entity, sources, batches))
        if work:
            check_parsing(self.spark, (s for item in work for s in item.sources),
                          self.references)
            self.gates.preload()
        warming = self._start_python_worker(work)
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ahead") as self._ahead:
                try:
                    self._prepare_all(work)
                    # before anything is published
                    _check_replays(work, manifest)
                    self._check_unchanged(work)
                    blocked = any(item.gate is not None and not item.gate.success
                                  for item in work)
                    for item in work:
                        self._finish(item, publish=not blocked)
                finally:
                    for item in work:  # what was prepared and not committed
                        if item.ahead is not None:
                            item.ahead.discard()
        finally:
            if warming is not None:
                warming.join()
            self.lake.clear_staging(self.run_id)
        self.report.gates = [item.gate for item in work if item.gate is not None]
        if self.report.gates:
            with self._step("ops", "record the gates' results"):
                self.delta.append_records(results_records(self.run_id, self.report.gates),
                                          DQ_RESULTS_SCHEMA, DQ_RESULTS, run_id=self.run_id,
                                          step="ops")
            if self.render_docs:
                self.report.docs_path = self.gates.render_docs()
        return self.report

    def _start_python_worker(self, work: Sequence[_EntityBatch]) -> threading.Thread | None:
        """Starts, in the background, the Python worker that the quarantine's redaction runs in
        (``redact_card_numbers``), with its modules imported: a job of one row. Started cold by
        the first quarantine write, it took about a second of a day's run (pandas and pyarrow
        imported, the worker forked); started while the driver plans the parse, most of that
        is spent on a core the run leaves idle, and the quarantine write reuses the worker."""
        if not work:
            return None
        step = f"silver.{work[0].entity.quarantine_table.name}"

        def start() -> None:
            with spark_step(self.spark, self.run_id, step, "start the redaction's Python worker"):
                try:
                    local_frame(self.spark, [("",)], T.StructType(
                        [T.StructField("text", T.StringType())])).select(
                        redact_card_numbers(F.col("text"))).collect()
                except Exception as exc:  # the quarantine write starts it again, or says why
                    log.debug("the Python worker did not start in advance: %s", exc)

        thread = threading.Thread(target=start, name="python-worker", daemon=True)
        thread.start()
        return thread

    def _check_unchanged(self, work: Sequence[_EntityBatch]) -> None:
        """The new landing files are as they were listed (size, modification time) once this
        run has read them: a file still being copied into the landing area, or rewritten in
        place, while the run read it could have given Bronze and Silver different rows, or
        part of a file under the hash of another part. Such a run stops before publishing;
        the next run reads the file as it is then (nothing is recorded, so it is new)."""
        changed = []
        for item in work:
            for batch in item.batches:
                if not batch.new:
                    continue
                now = {e.relative: e for e in list_landing(self.settings.landing_root,
                                                           batch.source)}
                for file in batch.new:
                    entry = now.get(file.relative)
                    if entry is None:
                        changed.append(f"{file.relative} (removed)")
                    elif entry.identity != file.identity:
                        changed.append(f"{file.relative} ({file.size:,} -> {entry.size:,} "
                                       "bytes)" if entry.size != file.size else
                                       f"{file.relative} (modified)")
        if changed:
            raise LandingError(
                f"{len(changed)} landing file(s) changed while this run read them: "
                + ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
                + "; nothing was published. Run again once they are complete")

    def _bronze_loads(self, source: SourceConfig) -> list[tuple[str, dict[str, str]]]:
        """The Bronze commits that appended ``source``'s files, newest first: each one's run id
        and the files it names (path -> content hash). Only those since the last full refresh
        (which wrote Bronze anew: the rows of the loads before it are gone). None on a full
        refresh."""
        table = bronze_table(source.name)
        if self.full_refresh or not self.delta.exists(table):
            return []
        loads = []
        for entry in self.delta.history(table):
            if entry.step == "bronze" and entry.run_id:
                loads.append((entry.run_id, json.loads(
                    entry.metadata.get(f"lakehouse.{_BRONZE_FILES}", "{}"))))
            if entry.overwrote:
                break
        return loads

    # -- phase 1 ------------------------------------------------------------------------------

    def _prepare_all(self, work: Sequence[_EntityBatch]) -> None:
        """Phase 1 of every entity: each one's read, parse and classification beside the
        others', the largest batch first, and each one's gate as soon as it is classified, one
        gate at a time (Great Expectations' context is not thread-safe). An entity's Spark jobs
        leave cores idle while the driver plans them, the Bronze commit's and the gate's work
        is in the driver, and the entities do not depend on one another until phase 2."""
        if not work:
            return
        self.tokenize  # noqa: B018 - the card key resolved once, before the threads need it
        order = sorted(work, key=lambda item: -_batch_bytes(b.files for b in item.batches))
        with ThreadPoolExecutor(max_workers=min(len(work), _ENTITIES_AT_ONCE),
                                thread_name_prefix="entity") as pool:
            started: dict[Future[None], _EntityBatch] = {
                pool.submit(self._prepare, item): item for item in order}
            try:
                for future in as_completed(started):
                    future.result()
                    item = started[future]
                    if item.classified is not None:
                        item.ahead = self._prepare_writes(item)
                        self._gate(item)  # its jobs named by the gate (``gate.<table>``)
            except BaseException:
                # those not started are not; the error once the others have ended
                pool.shutdown(cancel_futures=True)
                raise

    def _prepare(self, item: _EntityBatch) -> None:
        with self._step(f"silver.{item.entity.name}", "read, parse, classify and stage"):
            self._parse_and_classify(item)

    def _parse_and_classify(self, item: _EntityBatch) -> None:
        # A batch of one partition's worth of new files (a day's) is parsed from the rows read
        # for Bronze while Bronze writes them: each is a single task, and the driver's planning
        # of the parse (1-2 s) leaves the other core idle. Larger batches, or any batch with
        # files to replay from Bronze, are parsed from Bronze once it has them (a second read
        # and parse of the landing text would cost more than it overlaps).
        together = (_batch_bytes(b.files for b in item.batches) <= _ALONGSIDE_BYTES
                    and not any(b.replay for b in item.batches))
        parsed_frames = []
        appends: list[Callable[[], CommitResult]] = []
        for batch in item.batches:
            if not batch.files:
                continue
            table = bronze_table(batch.source.name)
            if batch.new:
                self.progress(f"bronze.{batch.source.name}: loading {len(batch.new)} file(s)")
                raw = read_raw(self.spark, batch.source, batch.new)
                self.notes.update(raw.notes)
                landed = raw.frame.transform(with_lineage(self.run_id, self.now))
                append = partial(self._append_bronze, item, batch, table, landed)
                if together:
                    appends.append(append)
                    rows = landed
                else:
                    rows = self._bronze_rows(table, batch, append())
            else:
                rows = self._bronze_rows(table, batch, None)
            parsed_frames.append(rows.transform(parse_fields(batch.source, self.references,
                                                             self.tokenize)))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze") as pool:
            # each append in order, alongside the parse (the gate waits for them all)
            appended = [pool.submit(append) for append in appends]
            self._classify(item, parsed_frames)
        for future in appended:
            future.result()  # an append's error, once every job has ended

    def _append_bronze(self, item: _EntityBatch, batch: _SourceBatch, table: TableId,
                       landed: DataFrame) -> CommitResult:
        """A source's new files appended to its Bronze table (one commit naming them)."""
        timer = StepTimer(self.run_id, f"bronze.{batch.source.name}", str(table))
        with self._step(f"bronze.{batch.source.name}",
                        f"append {len(batch.new)} landing file(s)"):
            committed = self.delta.write(landed, table, self.mode, run_id=self.run_id,
                                         step="bronze", metadata={_BRONZE_FILES: json.dumps(
                                             {f.relative: f.content_hash for f in batch.new},
                                             sort_keys=True)})
        item.steps.append(timer.finish(rows_in=committed.rows, rows_written=committed.rows,
                                       table_version=committed.version))
        fault_point(f"bronze.appended:{batch.source.name}")
        return committed

    def _classify(self, item: _EntityBatch, parsed_frames: list[DataFrame]) -> None:
        """The entity's parsed rows classified (clean, quarantined, duplicate), computed once
        into the run's scratch folder, and counted per file and outcome."""
        if not parsed_frames:
            return
        entity = item.entity
        started = time.perf_counter()
        self.progress(f"silver.{entity.name}: validating")
        parsed = parsed_frames[0]
        for other in parsed_frames[1:]:
            # sources of one entity may provide different optional fields: null where absent
            parsed = parsed.unionByName(other, allowMissingColumns=True)
        # Not scanned for card numbers: what the parse wrote itself (``unscanned_columns``), and
        # the raw values, which only the quarantine keeps, redacted as they are written there
        # (``to_quarantine``).
        unscanned = ({c for source in item.sources for c in unscanned_columns(source)}
                     | {RAW_VALUES})
        # Partitions sized to the batch, hashed on the key (which both duplicate windows reuse):
        # in the few default partitions a 4 M-row batch's were too big for a 2 GB heap, and a
        # day's batch in as many would become as many small files in Silver.
        partitions = _partitions_for(b.files for b in item.batches)
        # Computed once into the run's scratch folder: the counts, the gate, the quarantine and
        # the merge read it back (memory stays flat whatever the batch's size).
        item.classified = self.delta.stage(
            parsed.repartition(partitions, *entity.key)
            .transform(classify(entity.key))
            .transform(lambda df: with_card_number_flag(df, skip=unscanned)),
            self.run_id, f"silver-{entity.name}")
        per_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # counted from the staged files by pyarrow, without a Spark job, where they are local
        counts = scanned_counts(item.classified, [SOURCE_FILE, OUTCOME])
        if counts is None:
            counts = {(r[SOURCE_FILE], r[OUTCOME]): int(r["count"]) for r in
                      item.classified.groupBy(SOURCE_FILE, OUTCOME).count().collect()}
        for (file, outcome), rows in counts.items():
            per_file[file][outcome] += rows
        item.per_file = per_file
        item.totals = {o: sum(f[o] for f in per_file.values())
                       for o in (CLEAN, QUARANTINED, DUPLICATE)}
        item.prepare_seconds = time.perf_counter() - started

    def _prepare_writes(self, item: _EntityBatch) -> PreparedLater | None:
        """The entity's writes prepared in the background while its gate runs, for phase 2 to
        commit (``take``; ``run`` throws away what it does not take): its quarantine rows,
        and its Silver rows when phase 2 would only add them (a full refresh, or a batch none
        of whose keys the table has: a new day's). Only when the gate validates the batch in
        the driver (pandas): its work leaves Spark's cores idle, and a day's quarantine write,
        Silver key check and Silver write came after it, one after the other (about 1 s of a
        1 M-row day). Not for a batch the gate validates in Spark: the two competed for the
        same cores, and a 1 M-row full load was no faster (its gate's time rose from 3.8 s to
        12.1 s). Nor where committing prepared files would write them again."""
        if self._ahead is None or not self.delta.prepares_in_place \
                or not self.gates.in_memory(sum(item.totals.values())):
            return None
        assert item.classified is not None
        entity, classified = item.entity, item.classified
        quarantine_table = entity.quarantine_table

        def quarantine() -> Prepared:
            with self._step(str(quarantine_table), "write the quarantined rows"):
                return self.delta.prepare(classified.transform(to_quarantine(entity.key)),
                                          self.run_id, f"ahead-{quarantine_table.name}",
                                          Target(quarantine_table, self.mode))

        def silver() -> Prepared | None:
            """The clean rows as the table's next files, when phase 2 would only add them."""
            with self._step(str(entity.table), "merge"):
                if classified.where((F.col(OUTCOME) == CLEAN)
                                    & F.col(CARD_NUMBER_FOUND)).limit(1).count():
                    # its gate will block the batch: a card number is never written into
                    # Silver's folder, not even in files that are never committed
                    return None
                clean = self._clean(item)
                if not self.full_refresh and self.delta.any_key_in(clean, entity.table,
                                                                   entity.key):
                    return None  # some rows update the table's: merged in phase 2
                return self.delta.prepare(clean, self.run_id, f"ahead-{entity.table.name}",
                                          Target(entity.table, self.mode))

        jobs: dict[str, Callable[[], Prepared | None]] = {"quarantine": quarantine}
        if not entity.current_key:  # an SCD2 entity's tables are rebuilt from its history
            jobs["silver"] = silver
        return PreparedLater(self.delta, {name: self._ahead.submit(job)
                                          for name, job in jobs.items()})

    @staticmethod
    def _clean(item: _EntityBatch) -> DataFrame:
        """The batch's clean rows, as the entity's table holds them."""
        assert item.classified is not None
        return item.entity.conform(item.classified.where(F.col(OUTCOME) == CLEAN))

    def _gate(self, item: _EntityBatch) -> None:
        """The entity's quality gate over its classified batch."""
        assert item.classified is not None
        entity = item.entity
        # the sources with rows in the batch: another source's fields may not be among its
        # columns, and it has no rows to check
        expectations = silver_expectations(entity, [b.source for b in item.batches if b.files],
                                           self.settings.quality, self.references,
                                           item.totals[CLEAN])
        batch_rows = sum(item.totals.values())
        item.gate = self.gates.validate(str(entity.table),
                                        with_gate_key(item.classified, entity.key),
                                        expectations, self.run_id, rows=batch_rows)
        item.steps.append(StepTimer(self.run_id, f"gate.silver.{entity.name}",
                                    str(entity.table)).finish(
            outcome="passed" if item.gate.success else "failed", rows_in=batch_rows,
            message=item.gate.summary(), duration_s=item.gate.seconds))

    def _bronze_rows(self, table: TableId, batch: _SourceBatch,
                     committed: CommitResult | None) -> DataFrame:
        """This run's Bronze rows of a source (``_rows_of``). When they are all in the files
        this run's commit added, only those files are read: a file pruned from the plan costs
        nothing, not even a task (a 1 M-row Bronze table is five files, and a day's rows are
        in one)."""
        condition = self._rows_of(batch)
        if committed is not None and committed.version and not batch.replay:
            added = self.delta.appended_since(table, committed.version - 1, committed.version)
            if added is not None:
                return added.where(condition)
        return self.delta.read(table).where(condition)

    def _rows_of(self, batch: _SourceBatch) -> Column:
        """This run's Bronze rows of a source, plus the rows of files held back before."""
        condition = F.col("ingest_run_id") == self.run_id
        for run_id, paths in _paths_by_run(batch.replay).items():
            condition = condition | ((F.col("ingest_run_id") == run_id)
                                     & F.col(SOURCE_FILE).isin(*paths))
        return condition

    # -- phase 2 ------------------------------------------------------------------------------

    def _finish(self, item: _EntityBatch, publish: bool) -> None:
        entity = item.entity
        file_rows = [r for b in item.batches for r in b.settled]
        if item.classified is not None:
            with self._step(str(entity.quarantine_table), "write the quarantined rows"):
                self._replace_quarantine(item)
            if publish:
                with self._step(str(entity.table), "merge"):
                    item.steps += self._publish(item)
                fault_point(f"silver.published:{entity.name}")
            else:
                item.steps.append(self._silver_timer(item).finish(
                    outcome="blocked", rows_in=sum(item.totals.values()),
                    rows_quarantined=item.totals[QUARANTINED],
                    rows_duplicate=item.totals[DUPLICATE],
                    message="a quality gate failed; nothing was published"))
                self.progress(f"silver.{entity.name}: not published (quality gate)")
            file_rows += self._file_records(item, publish)
        self._record(file_rows, item.steps)

    def _replace_quarantine(self, item: _EntityBatch) -> None:
        """Quarantine rows are evidence: written even when blocked, never twice on replay."""
        assert item.classified is not None
        entity = item.entity
        table = entity.quarantine_table
        timer = StepTimer(self.run_id, f"silver.{table.name}", str(table))
        if item.replayed and self.delta.exists(table):
            predicate = " OR ".join(
                f"(ingest_run_id = '{run_id}' AND source_file IN ("
                + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "))"
                for run_id, paths in _paths_by_run(item.replayed).items())
            self.delta.delete(table, predicate, run_id=self.run_id, step="silver")
        prepared = item.ahead.take("quarantine") if item.ahead is not None else None
        if prepared is not None:
            committed = self.delta.commit(prepared, run_id=self.run_id, step="silver")
        else:
            committed = self.delta.write(item.classified.transform(to_quarantine(entity.key)),
                                         table, self.mode, run_id=self.run_id, step="silver")
        item.steps.append(timer.finish(rows_in=item.totals[QUARANTINED],
                                       rows_written=committed.rows,
                                       table_version=committed.version))

    def _silver_timer(self, item: _EntityBatch) -> StepTimer:
        """Times the Silver step: its share of phase 1 plus what follows from now."""
        return StepTimer(self.run_id, f"silver.{item.entity.name}", str(item.entity.table),
                         already=item.prepare_seconds)

    def _publish(self, item: _EntityBatch) -> list[ops.RunStep]:
        assert item.classified is not None
        entity, totals, timer = item.entity, item.totals, self._silver_timer(item)
        self.progress(f"silver.{entity.name}: merging")
        clean = self._clean(item)
        counts: dict[str, Any] = {"rows_in": sum(totals.values()), "rows_written": totals[CLEAN],
                  "rows_quarantined": totals[QUARANTINED], "rows_duplicate": totals[DUPLICATE]}
        if not entity.current_key:
            prepared = item.ahead.take("silver") if item.ahead is not None else None
            if prepared is not None:  # only rows to add (``_prepare_writes``)
                added = self.delta.commit(prepared, run_id=self.run_id, step="silver")
                inserted, updated, version = added.rows, 0, added.version
            else:
                inserted, updated, version = self._upsert(clean, entity.table, entity.key)
            withdrawn, withdrawn_version = self._withdraw(item)
            return [timer.finish(**counts, rows_inserted=inserted, rows_updated=updated,
                                 table_version=withdrawn_version or version,
                                 message=f"withdrew {withdrawn} row(s) of reprocessed files "
                                 "that fail a rule now" if withdrawn else None)]
        history_table = entity.history_table
        assert history_table is not None
        history_schema = scd2.history_schema(entity.schema)
        existing = (local_frame(self.spark, [], history_schema) if self.full_refresh
                    else self.delta.read_or_empty(history_table, history_schema))
        rebuilt = (clean.transform(scd2.build_history(existing, entity.current_key,
                                                      entity.version_column, "ingested_at"))
                   .select(*history_schema.fieldNames()))
        history_timer = StepTimer(self.run_id, f"silver.{history_table.name}",
                                  str(history_table))
        changed = (f"t.{ROW_HASH} <> s.{ROW_HASH} OR t.is_current <> s.is_current OR "
                   "t.valid_to IS DISTINCT FROM s.valid_to")
        h_ins, h_upd, h_version = self._upsert(rebuilt, history_table, entity.key, changed)
        current = (scd2.current_versions(self.delta.read(history_table)
                                         .join(clean.select(*entity.current_key).distinct(),
                                               list(entity.current_key), "left_semi"))
                   .select(*entity.schema.fieldNames()))
        # the current table mirrors the history's current versions, whose landing order the
        # history's rebuild already settled: any change is taken
        c_ins, c_upd, c_version = self._upsert(current, entity.table, entity.current_key,
                                               f"t.{ROW_HASH} <> s.{ROW_HASH}")
        return [timer.finish(**counts, rows_inserted=c_ins, rows_updated=c_upd,
                             table_version=c_version),
                history_timer.finish(rows_in=totals[CLEAN], rows_written=totals[CLEAN],
                                     rows_inserted=h_ins, rows_updated=h_upd,
                                     table_version=h_version)]

    def _withdraw(self, item: _EntityBatch) -> tuple[int, int | None]:
        """Rows of reprocessed files that an earlier run published and that fail a rule now
        (they are quarantined in this run) leave Silver: only the row that very load wrote
        (same key, file and Bronze run), so nothing a later file changed is touched. Entities
        kept as SCD2 keep theirs (their history would need rewriting)."""
        assert item.classified is not None
        paths = [p for b in item.batches for p in b.reprocessed]
        if not paths or item.totals[QUARANTINED] == 0 or item.entity.current_key:
            return 0, None
        lineage = ("source_file", "ingest_run_id")
        failing = (item.entity.conform(item.classified.where(
            (F.col(OUTCOME) == QUARANTINED) & F.col(SOURCE_FILE).isin(*paths)))
            .dropDuplicates([*item.entity.key, *lineage]))
        merged = self.delta.merge(failing, item.entity.table, MergeSpec(
            keys=(*item.entity.key, *lineage), delete_when="true", insert=False),
            run_id=self.run_id, step="silver")
        if merged.deleted:
            self.progress(f"silver.{item.entity.name}: withdrew {merged.deleted} row(s) that "
                          "an earlier run published and that fail a rule now")
        return merged.deleted, merged.version

    def _upsert(self, df: DataFrame, table: TableId, key: tuple[str, ...],
                changed: str | None = None) -> tuple[int, int, int | None]:
        """Overwrite on a full refresh, else merge on the key when the row changed."""
        if self.full_refresh:
            result = self.delta.write(df, table, "overwrite", run_id=self.run_id, step="silver")
            return result.rows, 0, result.version
        # a row replaces the table's only when it changed and was not landed before it: a
        # file replayed or reprocessed from Bronze does not undo what a later file changed
        spec = MergeSpec(keys=key, update_when=changed or (
            f"t.{ROW_HASH} <> s.{ROW_HASH} AND s.ingested_at >= t.ingested_at"))
        merged = self.delta.merge(df, table, spec, run_id=self.run_id, step="silver")
        return merged.inserted, merged.updated, merged.version

    def _file_records(self, item: _EntityBatch, published: bool) -> list[ops.IngestedFile]:
        records = []
        for batch in item.batches:
            for file in batch.files:
                counts = item.per_file.get(file.relative, {})
                rows_in = sum(counts.values())
                outcome = (ops.BLOCKED if not published
                           else ops.LOADED if rows_in else ops.EMPTY)
                records.append(ops.IngestedFile(
                    batch.source.name, file.relative, file.size, file.modified,
                    file.content_hash, self.run_id, self.now, outcome,
                    self.notes.get(file.relative), rows_in, counts.get(CLEAN, 0),
                    counts.get(QUARANTINED, 0), counts.get(DUPLICATE, 0)))
        return records

    def _record(self, files: list[ops.IngestedFile], steps: list[ops.RunStep]) -> None:
        with self._step("ops", "record the files and steps"):
            if files:
                self.delta.append_records(ops.records(files), ops.INGESTED_FILES_SCHEMA,
                                          ops.INGESTED_FILES, run_id=self.run_id, step="ops")
            if steps:
                self.delta.append_records(ops.records(steps), ops.RUN_LOG_SCHEMA, ops.RUN_LOG,
                                          run_id=self.run_id, step="ops")
        self.report.files += files
        self.report.steps += steps


def bronze_to_silver(settings: Settings, *, full_refresh: bool = False,
                     progress: Progress = _quiet, spark: SparkSession | None = None,
                     run_id: str | None = None, reprocess: Reprocess | None = None) -> RunReport:
    """Run Bronze -> Silver for every source under the lake lock."""
    from lakehouse.pipeline.workload import pipeline_spark  # it reads pending_landing_bytes

    lake = settings.lake()
    with lake_lock(lake, settings.aws, progress, settings.lock_wait_s):
        session = spark or pipeline_spark(settings, full_refresh=full_refresh, gold=False,
                                          progress=progress, reprocess=reprocess)
        return BronzeToSilver(settings, session, full_refresh=full_refresh, progress=progress,
                              run_id=run_id, reprocess=reprocess).run()
