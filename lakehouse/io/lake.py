"""Where tables live: ``<lake>/<layer>/<name>`` for a table ``<layer>.<name>``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from lakehouse.errors import LakehouseError

LAYERS = ("bronze", "silver", "gold", "ops")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, order=True)
class TableId:
    """A table's name: ``<layer>.<entity>``, e.g. ``silver.transactions``."""

    layer: str
    name: str

    def __post_init__(self) -> None:
        if self.layer not in LAYERS or not _NAME.match(self.name):
            raise LakehouseError(f"not a table name: {self.layer}.{self.name} "
                                 f"(expected <{'|'.join(LAYERS)}>.<lower_snake_name>)")

    @classmethod
    def parse(cls, text: str) -> TableId:
        layer, sep, name = text.strip().partition(".")
        if not sep:
            raise LakehouseError(f"not a table name: {text!r} (expected e.g. silver.transactions)")
        return cls(layer, name)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"


def spark_path(uri: str) -> str:
    """A URI as Spark opens it: Glue reads ``s3://`` natively (EMRFS); any other Spark needs the
    ``s3a://`` connector."""
    from lakehouse.runtime.spark import running_on_glue

    if uri.startswith("s3://") and not running_on_glue():
        return "s3a://" + uri[5:]
    return uri


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _normalise(root: str | Path) -> str:
    text = str(root)
    if not _is_remote(text):
        text = str(Path(text.removeprefix("file://")).expanduser().resolve())
    return text.rstrip("/")


@dataclass(frozen=True)
class Lake:
    """The lake root (a local folder or an ``s3://`` prefix) and the layout below it.

    A table ``<layer>.<name>`` lives at ``<layer root>/<name>``; a layer's root is
    ``<root>/<layer>`` unless ``layer_roots`` puts it elsewhere (on AWS each layer has its own
    bucket, so that access to Bronze, which holds card numbers, can be granted separately). The
    lake's own folders (``_quality``, ``_catalog``, ``_snapshots``) stay under ``root``; the
    runs' scratch folder ``_staging`` is under Bronze's root (see ``staging_root``).
    """

    root: str
    layer_roots: tuple[tuple[str, str], ...] = ()

    @classmethod
    def at(cls, root: str | Path, layer_roots: Mapping[str, str] | None = None) -> Lake:
        roots = []
        for layer, uri in sorted((layer_roots or {}).items()):
            if layer not in LAYERS:
                raise LakehouseError(f"layer_roots: unknown layer {layer!r} "
                                     f"(one of {', '.join(LAYERS)})")
            if uri:
                roots.append((layer, _normalise(uri)))
        return cls(_normalise(root), tuple(roots))

    def layer_root(self, layer: str) -> str:
        return dict(self.layer_roots).get(layer, f"{self.root}/{layer}")

    @property
    def is_local(self) -> bool:
        return not _is_remote(self.root)

    def uri(self, table: TableId) -> str:
        return f"{self.layer_root(table.layer)}/{table.name}"

    @property
    def staging_root(self) -> str:
        """Where runs keep scratch files: under Bronze's root, never inside a table. A batch is
        staged before its quality gate, so it may hold what the gate exists to stop (a card
        number typed into free text); Bronze is the one place allowed to hold card numbers."""
        return f"{self.layer_root('bronze')}/_staging"

    def staging_uri(self, run_id: str, label: str) -> str:
        """A private scratch folder for one run."""
        return f"{self.staging_root}/{run_id}/{label}-{uuid.uuid4().hex[:8]}"

    def clear_staging(self, run_id: str | None = None) -> None:
        """Remove one run's scratch folders, or every run's (left by runs that were killed);
        the scratch root goes too once it is empty, so a layer's root holds only tables."""
        if run_id:
            self.remove(f"{self.staging_root}/{run_id}")
        fs, _ = self.filesystem()
        selector = pafs.FileSelector(self.fs_path(self.staging_root), allow_not_found=True)
        if not run_id or not fs.get_file_info(selector):
            self.remove(self.staging_root)

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        fs, path = pafs.FileSystem.from_uri(self.root if not self.is_local else
                                            Path(self.root).as_uri())
        return fs, path

    def fs_path(self, uri: str) -> str:
        """The filesystem-relative path of a URI inside this lake."""
        if self.is_local:
            return uri
        return uri.split("://", 1)[1]

    def list_tables(self) -> list[TableId]:
        fs, _ = self.filesystem()
        found: list[TableId] = []
        for layer in LAYERS:
            selector = pafs.FileSelector(self.fs_path(self.layer_root(layer)),
                                         allow_not_found=True)
            for info in fs.get_file_info(selector):
                if info.type != pafs.FileType.Directory:
                    continue
                log_dir = fs.get_file_info(f"{info.path}/_delta_log")
                if log_dir.type == pafs.FileType.Directory and _NAME.match(info.base_name):
                    found.append(TableId(layer, info.base_name))
        return sorted(found)

    def remove(self, uri: str) -> None:
        fs, _ = self.filesystem()
        path = self.fs_path(uri)
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)
