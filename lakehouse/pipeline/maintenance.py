"""Table maintenance: vacuum, compaction and restore, under the lake's lock.

``vacuum`` removes the data files no version within the retention needs, and the files no commit
names (what a killed run leaves in a table's folder: prepared Gold files, a merge's source),
except the files of every version published as a snapshot (``lakehouse snapshot``), whose
manifests list them. ``optimize`` compacts small files. Both add versions to a table's history
but change none of its rows: a vacuum changes no file of the snapshot, so Gold still counts as
up to date with Silver afterwards; a compaction of Silver makes the next Gold build a full one
(its files changed), a compaction of Gold does not (``SilverToGold._last_build``).
``restore`` makes an earlier version of a Silver or Gold table current again and says how to
bring back what it took out (``lakehouse run --from/--to`` over the days the undone runs
loaded: Bronze still holds their rows). ``redact`` masks card numbers found outside Bronze (in
rows an earlier release wrote) and, asked to, removes the files of the versions that held them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date

import pyarrow.fs as pafs
from pyspark.sql import functions as F

from lakehouse.catalog.register import snapshot_versions
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.gold.build import CLUSTER_BY
from lakehouse.io.delta import (
    MAINTENANCE_OPERATIONS,
    REWRITE_OPERATIONS,
    DeltaIO,
    OptimizeResult,
    Target,
    VacuumResult,
    delta_io,
    snapshot,
)
from lakehouse.io.lake import Lake, TableId
from lakehouse.io.landing import landing_date
from lakehouse.ops import tables as ops
from lakehouse.pii.columns import (
    CARD_NUMBER_FOUND,
    pan_hits,
    text_columns,
    with_card_number_flag,
    with_card_numbers_redacted,
)
from lakehouse.pipeline.run import Progress, lake_lock, new_run_id
from lakehouse.runtime.spark import get_spark
from lakehouse.silver import ENTITIES


def resolve_tables(lake: Lake, names: Sequence[str], every: bool) -> list[TableId]:
    """The tables a maintenance command names (``every``: all the lake's), each existing."""
    if every == bool(names):
        raise LakehouseError("name the tables (e.g. silver.transactions) or give --all")
    existing = lake.list_tables()
    if every:
        if not existing:
            raise LakehouseError(f"no tables in {lake.root} (run 'lakehouse run' first)")
        return existing
    tables = [TableId.parse(name) for name in names]
    missing = [str(t) for t in tables if t not in existing]
    if missing:
        raise LakehouseError(f"no table {', '.join(missing)} in {lake.root}")
    return tables


@contextlib.contextmanager
def _tables_under_lock(settings: Settings, names: Sequence[str], every: bool,
                       delta: DeltaIO | None, progress: Progress
                       ) -> Iterator[tuple[Lake, DeltaIO, list[TableId]]]:
    """The lake, its Delta I/O and the tables a command names, while it holds the lake's lock
    (no run is writing: a file no commit names is nobody's)."""
    lake = settings.lake()
    with lake_lock(lake, settings.aws, progress, settings.lock_wait_s):
        yield lake, delta or delta_io(None, lake), resolve_tables(lake, names, every)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.1f} kB"


def vacuum_tables(settings: Settings, names: Sequence[str] = (), *, every: bool = False,
                  retain_hours: int | None = None, dry_run: bool = False,
                  force: bool = False, progress: Progress = lambda _: None,
                  delta: DeltaIO | None = None) -> list[VacuumResult]:
    """Vacuum each table (see the module's text); ``force`` allows a retention shorter than
    the table's (7 days by default): versions older than it can then no longer be read."""
    if retain_hours is not None and retain_hours < 0:
        raise LakehouseError(f"--retain-hours must be 0 or more, not {retain_hours}")
    run_id = new_run_id()
    results = []
    with _tables_under_lock(settings, names, every, delta, progress) as (lake, io, tables):
        for table in tables:
            kept = snapshot_versions(lake, table)
            try:
                result = io.vacuum(table, retain_hours, keep_versions=kept, dry_run=dry_run,
                                      enforce_retention=not force, run_id=run_id)
            except LakehouseError as exc:
                if force:
                    raise
                raise LakehouseError(f"{exc}; force it (--force) and the versions older than "
                                     "that can no longer be read") from None
            if result.files and not dry_run:
                _remove_empty_folders(lake, table)
            results.append(result)
            progress(f"{table}: {_vacuumed(result)}")
    return results


def _vacuumed(result: VacuumResult) -> str:
    verb = "would remove" if result.dry_run else "removed"
    text = (f"{verb} {result.data_files} data file(s)"
            + (f" and {result.checksums} checksum file(s)" if result.checksums else "")
            + f", {_size(result.bytes)}" if result.files else "nothing to remove")
    if result.kept_versions:
        text += (f" (kept the files of version(s) {', '.join(map(str, result.kept_versions))}, "
                 "published as snapshots)")
    return text


def _remove_empty_folders(lake: Lake, table: TableId) -> None:
    """The folders a vacuum emptied (a killed run's, or a version's long replaced): object
    stores have no empty folders, a local lake keeps them unless told."""
    if not lake.is_local:
        return
    fs, _ = lake.filesystem()
    root = lake.fs_path(lake.uri(table))
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.type == pafs.FileType.Directory and not info.base_name.startswith("_") \
                and not fs.get_file_info(pafs.FileSelector(info.path, recursive=True)):
            fs.delete_dir(info.path)


def optimize_tables(settings: Settings, names: Sequence[str] = (), *, every: bool = False,
                    target_size_mb: int | None = None, progress: Progress = lambda _: None,
                    delta: DeltaIO | None = None) -> list[OptimizeResult]:
    """Compact each table's small files (rows unchanged; one new version where any)."""
    if target_size_mb is not None and target_size_mb < 1:
        raise LakehouseError(f"--target-size-mb must be at least 1, not {target_size_mb}")
    run_id = new_run_id()
    results = []
    with _tables_under_lock(settings, names, every, delta, progress) as (_, io, tables):
        for table in tables:
            progress(f"{table}: compacting")
            result = io.optimize(table, target_size_mb, run_id=run_id)
            results.append(result)
            progress(f"{table}: {result.files_removed} file(s) compacted into "
                     f"{result.files_added} (version {result.version})" if result.version
                     is not None else f"{table}: nothing to compact")
    return results


@dataclass(frozen=True)
class Restored:
    """What ``restore_table`` did, and how to bring back what it took out of Silver."""

    table: TableId
    version: int        # the version restored
    new_version: int    # the commit that restored it
    runs_undone: tuple[str, ...]
    first_day: date | None  # the landing days those runs loaded, to reprocess
    last_day: date | None
    undated_files: int  # files they loaded that have no day in their name
    # an SCD2 table's other half, restored with it: (table, version, new version)
    partner: tuple[TableId, int, int] | None = None

    def advice(self) -> str:
        if self.table.layer == "gold":
            return ("the next run rebuilds every Gold table from Silver (a restored Gold table "
                    "no longer says what it was built from)")
        if not self.runs_undone:
            return "no run's rows were undone"
        text = (f"the rows {len(self.runs_undone)} later run(s) loaded are out of {self.table}; "
                "Bronze still holds them")
        if self.first_day is not None:
            text += (f": 'lakehouse run --from {self.first_day} --to {self.last_day}' brings "
                     "them back with today's rules")
        if self.undated_files:
            text += (f"; {self.undated_files} of their file(s) have no day in their name "
                     "('lakehouse run --full-refresh' reloads everything)")
        return text


def restore_table(settings: Settings, name: str, *, version: int | None = None,
                  as_of: str | None = None, progress: Progress = lambda _: None,
                  delta: DeltaIO | None = None) -> Restored:
    """Restore a Silver or Gold table to an earlier version (a new commit; history kept).
    Bronze is refused (every replay and reprocess reads it, and ``ops.ingested_files`` says
    what it holds), and so are the ops tables (the record of what ran)."""
    if (version is None) == (as_of is None):
        raise LakehouseError("give --version N or --as-of TIMESTAMP (one of them)")
    table = TableId.parse(name)
    if table.layer in ("bronze", "ops"):
        raise LakehouseError(f"{table} cannot be restored: "
                             + ("Bronze is append-only, the record every replay and reprocess "
                                "reads" if table.layer == "bronze" else
                                "the ops tables are the record of what ran"))
    with _tables_under_lock(settings, [name], False, delta, progress) as (lake, io, [table]):
        target = snapshot(lake, table, version=version, as_of=as_of).version
        if target == io.version(table):
            raise LakehouseError(f"{table} is at version {target} already: nothing to restore")
        history = io.history(table)
        undone = tuple(sorted({e.run_id for e in history
                               if e.version > target and e.run_id
                               and e.operation not in MAINTENANCE_OPERATIONS | REWRITE_OPERATIONS
                               and e.step not in ("restore", "vacuum", "optimize",
                                                  REDACT_STEP)}))
        partner = _scd2_partner(table)
        paired = None
        if partner is not None and io.exists(partner):
            writer = next((e.run_id for e in history if e.version == target), None)
            paired = _version_written_by(io, partner, writer, table, target)
        run_id = new_run_id()
        new_version = io.restore(table, target, run_id=run_id)
        progress(f"{table}: restored version {target} as version {new_version}")
        also = None
        if partner is not None and paired is not None and paired != io.version(partner):
            try:
                also = (partner, paired, io.restore(partner, paired, run_id=run_id))
            except BaseException:
                io.restore(table, new_version - 1, run_id=run_id)  # not one half alone
                raise
            progress(f"{partner}: restored version {paired} as version {also[2]} (the SCD2 "
                     f"pair of {table})")
    days, undated = _loaded_days(io, undone)
    return Restored(table, target, new_version, undone, min(days, default=None),
                    max(days, default=None), undated, also)


def _scd2_partner(table: TableId) -> TableId | None:
    """The other table of an entity kept as SCD2 (its current rows, or every version)."""
    for entity in ENTITIES.values():
        if entity.history_table is not None and table in (entity.table, entity.history_table):
            return entity.history_table if table == entity.table else entity.table
    return None


def _version_written_by(delta: DeltaIO, partner: TableId, run_id: str | None, table: TableId,
                        version: int) -> int:
    """The version of ``partner`` that the run which wrote ``table``'s ``version`` left: the two
    halves of an SCD2 entity are only consistent as one run left them."""
    written = [e.version for e in delta.history(partner)
               if run_id is not None and e.run_id == run_id and e.step == "silver"]
    if not written:
        raise LakehouseError(
            f"cannot tell which version of {partner} goes with {table} version {version} (no "
            f"commit of the run that wrote it, {run_id or 'unknown'}); the two are restored "
            "together or not at all: pick a version a pipeline run wrote")
    return max(written)


def _loaded_days(delta: DeltaIO, runs: Sequence[str]) -> tuple[list[date], int]:
    """The landing days of the files ``runs`` loaded, and how many of those files have none."""
    if not runs or not delta.exists(ops.INGESTED_FILES):
        return [], 0
    wanted = set(runs)
    paths = {r["path"] for r in delta.read_records(ops.INGESTED_FILES,
                                                   ("run_id", "path", "outcome"))
             if r["run_id"] in wanted and r["outcome"] == ops.LOADED}
    days = [landing_date(p) for p in paths]
    return [d for d in days if d is not None], sum(1 for d in days if d is None)


REDACT_STEP = "redact"  # the step a redaction's commits name


@dataclass(frozen=True)
class Redacted:
    """What ``redact_tables`` found in a table, and did."""

    table: TableId
    rows: int  # rows that held a card number (0: none found)
    columns: dict[str, int]  # of which, per column
    version: int | None  # the version that masked them (None: none found, or a dry run)
    earlier: int | None = None  # the last version before, up to which versions may hold them
    purged: VacuumResult | None = None  # the files of earlier versions removed (purge_history)
    log_files: int = 0  # and the log entries before the current version
    # versions published as snapshots, kept by the purge with their files: they still hold them
    snapshots_kept: tuple[int, ...] = ()

    def describe(self) -> str:
        if not self.rows:
            return "no card number found" + (
                f"; removed the {self.purged.data_files} data file(s) and {self.log_files} log "
                "file(s) of the versions before an earlier masking" if self.purged else "")
        where = ", ".join(f"{c} ({n})" for c, n in sorted(self.columns.items()))
        if self.version is None:
            return f"{self.rows} row(s) hold a card number, in {where}; nothing rewritten"
        text = f"masked the card numbers of {self.rows} row(s), in {where} (version {self.version})"
        if self.purged is not None:
            text += (f"; removed the {self.purged.data_files} data file(s) of earlier versions "
                     f"and {self.log_files} log file(s): they can no longer be read")
        elif self.earlier is not None:
            text += (f"; versions up to {self.earlier} may still hold them until their files are "
                     f"removed ('lakehouse redact {self.table} --purge-history')")
        if self.snapshots_kept:
            text += (f"; version(s) {', '.join(map(str, self.snapshots_kept))}, published as "
                     "snapshots, keep theirs until the snapshots are dropped")
        return text


def redact_tables(settings: Settings, names: Sequence[str] = (), *, every: bool = False,
                  dry_run: bool = False, purge_history: bool = False,
                  progress: Progress = lambda _: None, delta: DeltaIO | None = None
                  ) -> list[Redacted]:
    """Mask the card numbers found in the tables outside Bronze (``--all``: every Silver, Gold
    and ops table): the rows that hold one are rewritten with each text column's card numbers
    masked, as the pipeline masks them (``redact_pans``), in one new version per table; every
    other row is kept as it is. A run writes none (it blocks the batch, or masks the quarantine's
    raw values); rows written by an earlier release may hold some.

    The versions before still hold them, in their data files and in their commits' file
    statistics (each column's smallest and largest value): ``purge_history`` then removes the
    data files no current version needs, whatever their age (a vacuum with no retention), and
    the log before the current version (``DeltaIO.forget_history``), so those versions can no
    longer be read or listed; the files of versions published as snapshots stay (``lakehouse
    vacuum`` keeps them too). A table masked by an earlier command without it is purged too.
    Every table is scanned before any is rewritten: a card number in a column that is not text
    (which cannot be masked in place) stops the command before it writes."""
    if dry_run and purge_history:
        raise LakehouseError("--purge-history removes files: it cannot be a --dry-run")
    explicit = [TableId.parse(name) for name in names]
    raw = [str(t) for t in explicit if t.layer == "bronze"]
    if raw:
        raise LakehouseError(f"{', '.join(raw)}: Bronze keeps the landed rows as they came, card "
                             "numbers included (only Silver, Gold and the ops tables are "
                             "redacted)")
    run_id = new_run_id()
    io = delta or delta_io(get_spark(settings.spark), settings.lake())
    with _tables_under_lock(settings, names, every, io, progress) as (lake, io, tables):
        found: dict[TableId, tuple[int, dict[str, int]]] = {}
        for table in (t for t in tables if t.layer != "bronze"):
            progress(f"{table}: scanning for card numbers")
            df = io.read(table)
            hits = pan_hits(df)
            rows = (with_card_number_flag(df).where(F.col(CARD_NUMBER_FOUND)).count()
                    if hits else 0)
            found[table] = (rows, hits)
        stuck = [f"{t}.{c}" for t, (_, hits) in found.items() if hits
                 for c in sorted(set(hits) - text_columns(io.schema(t)))]
        if stuck:
            raise LakehouseError(f"card numbers in {', '.join(stuck)}, which are not text and "
                                 "cannot be masked in place; nothing was rewritten")
        results = []
        try:
            for table, (rows, hits) in found.items():
                result = Redacted(table, rows, hits, None)
                if rows and not dry_run:
                    result = _mask(io, table, result, run_id)
                # a table masked by an earlier command, whose earlier versions were kept, is
                # purged too (its current version holds none)
                if purge_history and (result.version is not None or _masked_before(io, table)):
                    result = _purge(lake, io, table, result, run_id)
                results.append(result)
                progress(f"{table}: {result.describe()}")
        finally:
            lake.clear_staging(run_id)
    return results


def _mask(io: DeltaIO, table: TableId, found: Redacted, run_id: str) -> Redacted:
    """``found``'s rows of ``table`` masked in a new version (checked before it is
    committed)."""
    before = io.version(table)
    assert before is not None
    prepared = io.prepare(with_card_numbers_redacted(io.read(table)), run_id,
                          f"redact-{table}", Target(table, "overwrite", None,
                                                    CLUSTER_BY.get(table)))
    left = pan_hits(prepared.frame)
    if left:  # the masking and the scan disagree: nothing is committed
        io.discard(prepared)
        raise LakehouseError(f"{table}: card numbers left after masking, in "
                             f"{', '.join(sorted(left))}; nothing was rewritten")
    committed = io.commit(prepared, run_id=run_id, step=REDACT_STEP,
                          metadata={"redacted_rows": str(found.rows)})
    return replace(found, version=committed.version, earlier=before)


def _masked_before(io: DeltaIO, table: TableId) -> bool:
    """Whether the table's log still holds a masking commit, and so the versions before it."""
    return any(e.step == REDACT_STEP for e in io.history(table))


def _purge(lake: Lake, io: DeltaIO, table: TableId, result: Redacted, run_id: str) -> Redacted:
    """The files of the table's earlier versions removed, data and log, except those of the
    versions published as snapshots."""
    before = io.version(table)
    assert before is not None
    kept = snapshot_versions(lake, table)
    purged = io.vacuum(table, 0, keep_versions=kept, enforce_retention=False, run_id=run_id)
    if purged.files:
        _remove_empty_folders(lake, table)
    # the log too: each commit's file statistics hold the smallest and largest values
    log_files = io.forget_history(table)
    return replace(result, purged=purged, log_files=log_files, earlier=None,
                   snapshots_kept=tuple(v for v in kept if v < before))
