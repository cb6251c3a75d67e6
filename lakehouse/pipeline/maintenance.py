"""Table maintenance: vacuum and compaction, under the lake's lock.

``vacuum`` removes the data files no version within the retention needs, and the files no commit
names (what a killed run leaves in a table's folder: prepared Gold files, a merge's source),
except the files of every version published as a snapshot (``lakehouse snapshot``), whose
manifests list them. ``optimize`` compacts small files. Both add versions to a table's history
but change none of its rows: a vacuum changes no file of the snapshot, so Gold still counts as
up to date with Silver afterwards; a compaction of Silver makes the next Gold build a full one
(its files changed), a compaction of Gold does not (``SilverToGold._last_build``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow.fs as pafs

from lakehouse.catalog.register import snapshot_versions
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.io.delta import DeltaIO, OptimizeResult, VacuumResult, delta_io
from lakehouse.io.lake import Lake, TableId
from lakehouse.pipeline.run import Progress, lake_lock, new_run_id


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
    lake = settings.lake()
    delta = delta or delta_io(None, lake)
    run_id = new_run_id()
    results = []
    with lake_lock(lake):  # no run is writing: a file no commit names is nobody's
        for table in resolve_tables(lake, names, every):
            kept = snapshot_versions(lake, table)
            try:
                result = delta.vacuum(table, retain_hours, keep_versions=kept, dry_run=dry_run,
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
    text = (f"{verb} {len(result.files) - result.checksums} data file(s)"
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
    lake = settings.lake()
    delta = delta or delta_io(None, lake)
    run_id = new_run_id()
    results = []
    with lake_lock(lake):
        for table in resolve_tables(lake, names, every):
            progress(f"{table}: compacting")
            result = delta.optimize(table, target_size_mb, run_id=run_id)
            results.append(result)
            progress(f"{table}: {result.files_removed} file(s) compacted into "
                     f"{result.files_added} (version {result.version})" if result.version
                     is not None else f"{table}: nothing to compact")
    return results
