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
loaded: Bronze still holds their rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow.fs as pafs

from lakehouse.catalog.register import snapshot_versions
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.io.delta import (
    MAINTENANCE_OPERATIONS,
    REWRITE_OPERATIONS,
    DeltaIO,
    OptimizeResult,
    VacuumResult,
    delta_io,
    snapshot,
)
from lakehouse.io.lake import Lake, TableId
from lakehouse.io.landing import landing_date
from lakehouse.ops import tables as ops
from lakehouse.pipeline.run import Progress, lake_lock, new_run_id
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
    with lake_lock(lake, settings.aws, progress):
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
                               and e.step not in ("restore", "vacuum", "optimize")}))
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
