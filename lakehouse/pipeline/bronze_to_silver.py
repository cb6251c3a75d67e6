"""Landing -> Bronze -> Silver for every configured source, incrementally and idempotently.

Per entity: new landing files (by content hash) are appended to ``bronze.<source>``; the run's
Bronze rows are parsed and checked; clean rows are merged into ``silver.<entity>`` on the natural
key, rejected rows appended to ``silver.<entity>_quarantine``; then ``ops.ingested_files`` and
``ops.run_log`` record what happened. A run with no new files writes nothing at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.ingest import bronze_table, with_lineage
from lakehouse.config import Settings, SourceConfig
from lakehouse.errors import ConfigError, QualityGateError
from lakehouse.io.delta import DeltaIO, MergeSpec, WriteMode, delta_io
from lakehouse.io.lake import Lake
from lakehouse.io.landing import (
    SOURCE_FILE,
    LandingEntry,
    LandingFile,
    fingerprint,
    list_landing,
    read_raw,
)
from lakehouse.ops import tables as ops
from lakehouse.pii.columns import keyed_token, pan_hits
from lakehouse.pii.keys import resolve_token_key
from lakehouse.pipeline.run import Progress, RunReport, StepTimer, lake_lock, new_run_id
from lakehouse.reference import load_reference_values
from lakehouse.runtime.spark import get_spark
from lakehouse.silver import ENTITIES, Entity, scd2
from lakehouse.silver.batch import CLEAN, DUPLICATE, OUTCOME, QUARANTINED, classify, to_quarantine
from lakehouse.silver.entity import ROW_HASH
from lakehouse.silver.fields import parse_fields


@dataclass(frozen=True)
class _SourceBatch:
    source: SourceConfig
    new: list[LandingFile]          # files to load, in path order
    settled: list[ops.IngestedFile]  # files recorded without rows (empty, rejected, copies)
    skipped: int                    # files already ingested by an earlier run


def _quiet(_: str) -> None:
    return None


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


@dataclass(frozen=True)
class _Manifest:
    """What earlier runs settled: files by identity (path, size, mtime) and by content."""

    identities: frozenset[tuple[str, int, int]]
    hashes: frozenset[str]

    @classmethod
    def load(cls, delta: DeltaIO) -> _Manifest:
        if not delta.exists(ops.INGESTED_FILES):
            return cls(frozenset(), frozenset())
        rows = (delta.read(ops.INGESTED_FILES)
                .where(F.col("outcome").isin(*ops.SETTLED) & F.col("content_hash").isNotNull())
                .select("path", "size", "modified_at", "content_hash").collect())
        # PySpark returns naive local-time datetimes; .timestamp() reads them the same way.
        return cls(frozenset((r.path, r.size, int(r.modified_at.timestamp() * 1000))
                             for r in rows),
                   frozenset(r.content_hash for r in rows))


def _select_new(source: SourceConfig, entries: Sequence[LandingEntry], manifest: _Manifest,
                run_id: str, now: datetime) -> _SourceBatch:
    """Files to load; copies of known content are recorded once as ``duplicate_file``."""
    new: list[LandingFile] = []
    settled: list[ops.IngestedFile] = []
    first_with_hash: dict[str, str] = {}
    skipped = 0

    def record(file: LandingFile, outcome: str, note: str | None) -> ops.IngestedFile:
        return ops.IngestedFile(source.name, file.relative, file.size, file.modified,
                                file.content_hash, run_id, now, outcome, note, 0, 0, 0, 0)

    for entry in entries:
        if entry.identity in manifest.identities:
            skipped += 1  # already settled and untouched since: not even read again
            continue
        file = fingerprint(source, entry)
        if file.content_hash in manifest.hashes:
            settled.append(record(file, ops.DUPLICATE_FILE,
                                  "same content as a file ingested by an earlier run"))
        elif file.content_hash and file.content_hash in first_with_hash:
            settled.append(record(file, ops.DUPLICATE_FILE,
                                  f"same content as {first_with_hash[file.content_hash]}"))
        elif file.problem:
            outcome = ops.EMPTY if file.problem == "empty file" else ops.REJECTED
            settled.append(record(file, outcome, file.problem))
        else:
            new.append(file)
        if file.content_hash:
            first_with_hash.setdefault(file.content_hash, file.relative)
    return _SourceBatch(source, new, settled, skipped)


class BronzeToSilver:
    """One run of the Bronze -> Silver step over all sources."""

    def __init__(self, settings: Settings, spark: SparkSession, *, full_refresh: bool = False,
                 progress: Progress = _quiet, run_id: str | None = None) -> None:
        self.settings = settings
        self.spark = spark
        self.lake = Lake.at(settings.lake_root)
        self.delta = delta_io(spark, self.lake)
        self.full_refresh = full_refresh
        self.progress = progress
        self.now = datetime.now(UTC)
        self.run_id = run_id or new_run_id(self.now)
        self.report = RunReport(self.run_id)
        self.references = load_reference_values(settings.reference_dir)
        self.notes: dict[str, str] = {}  # landing path -> what was noticed reading it
        self._tokenize = None

    @property
    def tokenize(self):
        if self._tokenize is None:
            key = resolve_token_key(self.settings.tokenization, self.lake)
            self._tokenize = keyed_token(key)
        return self._tokenize

    def run(self) -> RunReport:
        plan = plan_entities(self.settings)
        manifest = (_Manifest(frozenset(), frozenset()) if self.full_refresh
                    else _Manifest.load(self.delta))
        for entity, sources in plan.items():
            batches = []
            for source in sources:
                entries = list_landing(self.settings.landing_root, source)
                batch = _select_new(source, entries, manifest, self.run_id, self.now)
                self.progress(f"{source.name}: {len(entries)} landing file(s), "
                              f"{len(batch.new)} new")
                batches.append(batch)
            self.report.skipped_files += sum(b.skipped for b in batches)
            if any(b.new or b.settled for b in batches):
                self._entity(entity, batches)
        return self.report

    # -- one entity ---------------------------------------------------------------------------

    def _entity(self, entity: Entity, batches: list[_SourceBatch]) -> None:
        mode: WriteMode = "overwrite" if self.full_refresh else "append"
        steps: list[ops.RunStep] = []
        parsed_frames: list[DataFrame] = []
        for batch in batches:
            if not batch.new:
                continue
            timer = StepTimer(self.run_id, f"bronze.{batch.source.name}",
                              str(bronze_table(batch.source.name)))
            self.progress(f"bronze.{batch.source.name}: loading {len(batch.new)} file(s)")
            raw = read_raw(self.spark, batch.source, batch.new)
            bronze = raw.frame.transform(with_lineage(self.run_id, self.now))
            table = bronze_table(batch.source.name)
            committed = self.delta.write(bronze, table, mode, run_id=self.run_id,
                                         step="bronze")
            steps.append(timer.finish(rows_in=committed.rows, rows_written=committed.rows,
                                      table_version=committed.version))
            rows = self.delta.read(table).where(F.col("ingest_run_id") == self.run_id)
            parsed_frames.append(rows.transform(parse_fields(batch.source, self.references,
                                                             self.tokenize)))
            self.notes.update(raw.notes)
        file_rows: list[ops.IngestedFile] = [r for b in batches for r in b.settled]
        if parsed_frames:
            silver_steps, per_file = self._silver(entity, parsed_frames, mode)
            steps += silver_steps
            file_rows += self._file_records(batches, per_file)
        self._record(file_rows, steps)

    def _silver(self, entity: Entity, parsed_frames: list[DataFrame],
                mode: WriteMode) -> tuple[list[ops.RunStep], dict[str, dict[str, int]]]:
        timer = StepTimer(self.run_id, f"silver.{entity.name}", str(entity.table))
        self.progress(f"silver.{entity.name}: validating and merging")
        parsed = parsed_frames[0]
        for other in parsed_frames[1:]:
            parsed = parsed.unionByName(other)
        classified = parsed.transform(classify(entity.key)).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            counts = classified.groupBy(SOURCE_FILE, OUTCOME).count().collect()
            per_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for row in counts:
                per_file[row[SOURCE_FILE]][row[OUTCOME]] += int(row["count"])
            totals = {o: sum(f[o] for f in per_file.values())
                      for o in (CLEAN, QUARANTINED, DUPLICATE)}
            clean = entity.conform(classified.where(F.col(OUTCOME) == CLEAN))
            quarantine = classified.transform(to_quarantine(entity.key))
            self._scan_for_card_numbers({str(entity.table): clean,
                                         str(entity.quarantine_table): quarantine})
            q_commit = self.delta.write(quarantine, entity.quarantine_table, mode,
                                        run_id=self.run_id, step="silver")
            steps = []
            if entity.current_key:
                steps += self._publish_scd2(entity, clean, mode, timer, totals)
            else:
                steps.append(self._publish(entity, clean, mode, timer, totals))
            steps.append(StepTimer(self.run_id, f"silver.{entity.name}_quarantine",
                                   str(entity.quarantine_table)).finish(
                rows_in=totals[QUARANTINED], rows_written=q_commit.rows,
                table_version=q_commit.version))
        finally:
            classified.unpersist()
        return steps, per_file

    def _publish(self, entity: Entity, clean: DataFrame, mode: WriteMode, timer: StepTimer,
                 totals: dict[str, int]) -> ops.RunStep:
        rows_in = sum(totals.values())
        if mode == "overwrite":
            result = self.delta.write(clean, entity.table, "overwrite", run_id=self.run_id,
                                      step="silver")
            return timer.finish(rows_in=rows_in, rows_written=totals[CLEAN],
                                rows_quarantined=totals[QUARANTINED],
                                rows_duplicate=totals[DUPLICATE], rows_inserted=result.rows,
                                table_version=result.version)
        spec = MergeSpec(keys=entity.key, update_when=f"t.{ROW_HASH} <> s.{ROW_HASH}")
        merged = self.delta.merge(clean, entity.table, spec, run_id=self.run_id, step="silver")
        return timer.finish(rows_in=rows_in, rows_written=totals[CLEAN],
                            rows_quarantined=totals[QUARANTINED],
                            rows_duplicate=totals[DUPLICATE], rows_inserted=merged.inserted,
                            rows_updated=merged.updated, table_version=merged.version)

    def _publish_scd2(self, entity: Entity, clean: DataFrame, mode: WriteMode, timer: StepTimer,
                      totals: dict[str, int]) -> list[ops.RunStep]:
        history_table = entity.history_table
        assert history_table is not None and entity.current_key is not None
        history_schema = scd2.history_schema(entity.schema)
        existing = (self.spark.createDataFrame([], history_schema) if mode == "overwrite"
                    else self.delta.read_or_empty(history_table, history_schema))
        rebuilt = (clean.transform(scd2.build_history(existing, entity.current_key,
                                                              entity.version_column))
                   .select(*history_schema.fieldNames()))
        history_timer = StepTimer(self.run_id, f"silver.{history_table.name}", str(history_table))
        if mode == "overwrite":
            h = self.delta.write(rebuilt, history_table, "overwrite", run_id=self.run_id,
                                 step="silver")
            h_ins, h_upd, h_version = h.rows, 0, h.version
        else:
            changed = (f"t.{ROW_HASH} <> s.{ROW_HASH} OR t.is_current <> s.is_current OR "
                       "t.valid_to IS DISTINCT FROM s.valid_to")
            m = self.delta.merge(rebuilt, history_table,
                                 MergeSpec(keys=entity.key, update_when=changed),
                                 run_id=self.run_id, step="silver")
            h_ins, h_upd, h_version = m.inserted, m.updated, m.version
        current = scd2.current_versions(self.delta.read(history_table)
                                        .join(clean.select(*entity.current_key).distinct(),
                                              list(entity.current_key), "left_semi"))
        current = current.select(*entity.schema.fieldNames())
        if mode == "overwrite":
            c = self.delta.write(current, entity.table, "overwrite", run_id=self.run_id,
                                 step="silver")
            c_ins, c_upd, c_version = c.rows, 0, c.version
        else:
            m = self.delta.merge(current, entity.table,
                                 MergeSpec(keys=entity.current_key,
                                           update_when=f"t.{ROW_HASH} <> s.{ROW_HASH}"),
                                 run_id=self.run_id, step="silver")
            c_ins, c_upd, c_version = m.inserted, m.updated, m.version
        rows_in = sum(totals.values())
        return [
            timer.finish(rows_in=rows_in, rows_written=totals[CLEAN],
                         rows_quarantined=totals[QUARANTINED], rows_duplicate=totals[DUPLICATE],
                         rows_inserted=c_ins, rows_updated=c_upd, table_version=c_version),
            history_timer.finish(rows_in=totals[CLEAN], rows_written=totals[CLEAN],
                                 rows_inserted=h_ins, rows_updated=h_upd,
                                 table_version=h_version),
        ]

    def _scan_for_card_numbers(self, frames: dict[str, DataFrame]) -> None:
        """Blocking: no Luhn-valid card number may reach a table outside Bronze."""
        for table, frame in frames.items():
            hits = pan_hits(frame)
            if hits:
                where = ", ".join(f"{column} ({count} rows)" for column, count in hits.items())
                raise QualityGateError(f"card-number scan: {table} would hold card numbers in "
                                       f"{where}; it was not published")

    def _file_records(self, batches: list[_SourceBatch],
                      per_file: dict[str, dict[str, int]]) -> list[ops.IngestedFile]:
        records = []
        for batch in batches:
            for file in batch.new:
                counts = per_file.get(file.relative, {})
                rows_in = sum(counts.values())
                records.append(ops.IngestedFile(
                    batch.source.name, file.relative, file.size, file.modified,
                    file.content_hash, self.run_id, self.now,
                    ops.LOADED if rows_in else ops.EMPTY, self.notes.get(file.relative), rows_in,
                    counts.get(CLEAN, 0), counts.get(QUARANTINED, 0), counts.get(DUPLICATE, 0)))
        return records

    def _record(self, files: list[ops.IngestedFile], steps: list[ops.RunStep]) -> None:
        if files:
            self.delta.write(ops.to_frame(self.spark, files, ops.INGESTED_FILES_SCHEMA),
                             ops.INGESTED_FILES, run_id=self.run_id, step="ops")
        if steps:
            self.delta.write(ops.to_frame(self.spark, steps, ops.RUN_LOG_SCHEMA), ops.RUN_LOG,
                             run_id=self.run_id, step="ops")
        self.report.files += files
        self.report.steps += steps


def bronze_to_silver(settings: Settings, *, full_refresh: bool = False,
                     progress: Progress = _quiet, spark: SparkSession | None = None,
                     run_id: str | None = None) -> RunReport:
    """Run Bronze -> Silver for every source under the lake lock."""
    lake = Lake.at(settings.lake_root)
    with lake_lock(lake):
        session = spark or get_spark(settings.spark)
        return BronzeToSilver(settings, session, full_refresh=full_refresh, progress=progress,
                              run_id=run_id).run()
