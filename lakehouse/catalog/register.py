"""The registrar: every table of the lake into a catalog, and published snapshots for Athena.

Definitions are read from the Delta transaction logs (delta-rs, no JVM), so registration works
the same after a local run, a Glue run, or by hand (``lakehouse register``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow.fs as pafs

from lakehouse.catalog.store import Catalog
from lakehouse.catalog.tables import (
    DELTA_FORMAT,
    LAYER_DESCRIPTIONS,
    SYMLINK_FORMAT,
    Column,
    TableDefinition,
    column_comments,
    declared_tables,
    hive_type,
)
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.io.delta import Snapshot, snapshot
from lakehouse.io.lake import Lake, TableId


@dataclass(frozen=True)
class Registration:
    table: TableId
    definition: TableDefinition
    action: str  # created, updated, unchanged


def _columns(settings: Settings, snap: Snapshot) -> tuple[Column, ...]:
    comments = column_comments(settings, snap.table)
    return tuple(Column(f.name, hive_type(f.type), comments.get(f.name, ""))
                 for f in snap.schema)


def table_definition(settings: Settings, table: TableId, snap: Snapshot | None = None,
                     description: str | None = None) -> TableDefinition:
    """The catalog definition of a Delta table at its current version (or ``snap``)."""
    lake = settings.lake()
    snap = snap or snapshot(lake, table)
    if description is None:
        description = declared_tables(settings).get(table, "")
    return TableDefinition(database=settings.catalog.database(table.layer), name=table.name,
                           description=description, location=lake.uri(table),
                           columns=_columns(settings, snap), format=DELTA_FORMAT,
                           version=snap.version)


def register_lake(settings: Settings, catalog: Catalog,
                  progress: Callable[[str], None] = lambda _: None) -> list[Registration]:
    """Register (create or update) every Delta table of the lake; unchanged ones are left
    alone. Returns what happened to each table."""
    lake = settings.lake()
    declared = declared_tables(settings)
    done: list[Registration] = []
    for layer in sorted({t.layer for t in lake.list_tables()}):
        catalog.ensure_database(settings.catalog.database(layer), LAYER_DESCRIPTIONS[layer])
    for table in lake.list_tables():
        definition = table_definition(settings, table, description=declared.get(table, ""))
        done.append(Registration(table, definition, catalog.put(definition)))
    changed = [r for r in done if r.action != "unchanged"]
    progress(f"catalog: {len(done)} table(s), {len(changed)} created or updated")
    return done


def snapshot_name(table: TableId, version: int) -> str:
    return f"{table.name}_v{version}"


def publish_snapshot(settings: Settings, catalog: Catalog, table: TableId,
                     version: int | None = None, as_of: datetime | str | None = None,
                     name: str | None = None) -> TableDefinition:
    """Publish one version of a Delta table as its own catalog table, for engines that cannot
    time-travel Delta (Athena): a Parquet table over a symlink manifest listing exactly that
    version's data files. The manifest is written once per version and never changes."""
    if (version is None) == (as_of is None):
        raise LakehouseError("give a version or a timestamp (one of them)")
    lake = settings.lake()
    snap = snapshot(lake, table, version=version, as_of=as_of)
    target = TableId(table.layer, name or snapshot_name(table, snap.version))
    if lake.list_tables().count(target):
        raise LakehouseError(f"{target} is a Delta table of the lake; choose another --name")
    folder = manifest_folder(lake, table, snap.version)
    _write_manifest(lake, folder, snap.files)
    definition = TableDefinition(
        database=settings.catalog.database(table.layer), name=target.name,
        description=f"{table} as of version {snap.version} (a published snapshot; it never "
                    "changes).",
        location=folder, columns=_columns(settings, snap), format=SYMLINK_FORMAT,
        version=snap.version, parameters=(("lakehouse.snapshot_of", str(table)),))
    catalog.ensure_database(definition.database, LAYER_DESCRIPTIONS[table.layer])
    catalog.put(definition)
    return definition


def _snapshots_folder(lake: Lake, table: TableId) -> str:
    return f"{lake.root}/_snapshots/{table.layer}/{table.name}"


def manifest_folder(lake: Lake, table: TableId, version: int) -> str:
    return f"{_snapshots_folder(lake, table)}/v{version}"


_VERSION_FOLDER = re.compile(r"^v(\d+)$")


def snapshot_versions(lake: Lake, table: TableId) -> tuple[int, ...]:
    """The versions of ``table`` published as snapshots (each has a ``manifest_folder``), in
    order; a vacuum keeps their files."""
    fs, _ = lake.filesystem()
    folder = lake.fs_path(_snapshots_folder(lake, table))
    versions = []
    for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        found = _VERSION_FOLDER.match(info.base_name)
        if found and info.type == pafs.FileType.Directory:
            versions.append(int(found.group(1)))
    return tuple(sorted(versions))


def _write_manifest(lake: Lake, folder: str, files: tuple[str, ...]) -> None:
    fs, _ = lake.filesystem()
    path = lake.fs_path(folder)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/manifest") as handle:
        handle.write("".join(f"{_manifest_uri(lake, f)}\n" for f in files).encode("utf-8"))


def _manifest_uri(lake: Lake, uri: str) -> str:
    """Manifests hold absolute paths: ``s3://`` on S3, plain paths for a local lake."""
    return uri.removeprefix("file://") if lake.is_local else uri


def manifest_files(lake: Lake, definition: TableDefinition) -> list[str]:
    """The data files a published snapshot lists."""
    fs, _ = lake.filesystem()
    try:
        with fs.open_input_stream(f"{lake.fs_path(definition.location)}/manifest") as handle:
            text = handle.read().decode("utf-8")
    except FileNotFoundError:
        raise LakehouseError(f"the manifest of {definition.qualified_name} is missing at "
                             f"{definition.location}; publish the snapshot again") from None
    return [line for line in text.splitlines() if line.strip()]
