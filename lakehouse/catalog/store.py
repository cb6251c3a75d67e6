"""Where table definitions are kept: the lake's own catalog, or the AWS Glue Data Catalog.

Both store the same thing, the Glue ``TableInput`` of a :class:`TableDefinition`: the local
catalog as one JSON file per table under ``<lake>/_catalog/<database>/``, Glue through boto3.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from lakehouse.catalog.tables import TableDefinition
from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.io.lake import Lake


class CatalogError(LakehouseError):
    """The catalog cannot be read or written."""


class Catalog(ABC):
    """Databases of table definitions."""

    @abstractmethod
    def ensure_database(self, name: str, description: str) -> None: ...

    @abstractmethod
    def get(self, database: str, name: str) -> TableDefinition | None: ...

    @abstractmethod
    def _write(self, definition: TableDefinition, exists: bool) -> None: ...

    @abstractmethod
    def tables(self, database: str | None = None) -> list[TableDefinition]: ...

    @abstractmethod
    def delete(self, database: str, name: str) -> None: ...

    def put(self, definition: TableDefinition) -> str:
        """Create or update a table; ``created``, ``updated`` or ``unchanged`` (nothing is
        written when the definition is the same, so a run with nothing new changes nothing)."""
        current = self.get(definition.database, definition.name)
        if current == definition:
            return "unchanged"
        self._write(definition, exists=current is not None)
        return "updated" if current is not None else "created"


class LocalCatalog(Catalog):
    """``<lake>/_catalog/<database>/<table>.json`` (and ``_database.json``)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.fs, base = lake.filesystem()
        self.base = f"{base}/_catalog"

    def _path(self, database: str, name: str) -> str:
        return f"{self.base}/{database}/{name}.json"

    def _read(self, path: str) -> dict[str, Any] | None:
        try:
            with self.fs.open_input_stream(path) as handle:
                data: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
                return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CatalogError(f"cannot read the catalog entry {path}: {exc}") from None

    def _dump(self, path: str, data: dict[str, Any]) -> None:
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        temporary = f"{path}.tmp"
        with self.fs.open_output_stream(temporary) as handle:
            handle.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        self.fs.move(temporary, path)

    def ensure_database(self, name: str, description: str) -> None:
        path = f"{self.base}/{name}/_database.json"
        if self._read(path) is None:
            self._dump(path, {"Name": name, "Description": description})

    def get(self, database: str, name: str) -> TableDefinition | None:
        data = self._read(self._path(database, name))
        return None if data is None else TableDefinition.from_table_input(database,
                                                                          data["TableInput"])

    def _write(self, definition: TableDefinition, exists: bool) -> None:
        self._dump(self._path(definition.database, definition.name),
                   {"DatabaseName": definition.database,
                    "TableInput": definition.table_input(),
                    "UpdatedAt": datetime.now(UTC).isoformat(timespec="seconds")})

    def databases(self) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def tables(self, database: str | None = None) -> list[TableDefinition]:
        found = []
        for db in [database] if database else self.databases():
            infos = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{db}",
                                                            allow_not_found=True))
            for info in sorted(infos, key=lambda i: i.base_name):
                if info.base_name.endswith(".json") and not info.base_name.startswith("_"):
                    definition = self.get(db, info.base_name[:-5])
                    if definition is not None:
                        found.append(definition)
        return found

    def delete(self, database: str, name: str) -> None:
        path = self._path(database, name)
        if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
            self.fs.delete_file(path)


class GlueCatalog(Catalog):
    """The AWS Glue Data Catalog, through boto3 (Athena reads its tables from here)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> GlueCatalog:
        from lakehouse.aws import aws_client

        return cls(aws_client(settings, "glue"))

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """One Glue call; a missing entity is None for reads (``get_*``), an error otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        from lakehouse.aws import aws_error

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "EntityNotFoundException" and operation.startswith("get_"):
                return None
            raise CatalogError(aws_error(f"Glue {operation}", exc)) from None
        except BotoCoreError as exc:
            raise CatalogError(aws_error(f"Glue {operation}", exc)) from None

    def ensure_database(self, name: str, description: str) -> None:
        if self._call("get_database", Name=name) is None:
            self._call("create_database",
                       DatabaseInput={"Name": name, "Description": description})

    def get(self, database: str, name: str) -> TableDefinition | None:
        answer = self._call("get_table", DatabaseName=database, Name=name)
        return None if answer is None else TableDefinition.from_table_input(database,
                                                                          answer["Table"])

    def _write(self, definition: TableDefinition, exists: bool) -> None:
        operation = "update_table" if exists else "create_table"
        self._call(operation, DatabaseName=definition.database,
                   TableInput=definition.table_input())

    def tables(self, database: str | None = None) -> list[TableDefinition]:
        if database is None:
            raise CatalogError("name a Glue database to list")
        found = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"DatabaseName": database}
            if token:
                kwargs["NextToken"] = token
            answer = self._call("get_tables", **kwargs)
            if answer is None:
                return []
            found += [TableDefinition.from_table_input(database, t) for t in answer["TableList"]]
            token = answer.get("NextToken")
            if not token:
                return sorted(found, key=lambda d: d.name)

    def delete(self, database: str, name: str) -> None:
        self._call("delete_table", DatabaseName=database, Name=name)


def catalog_for(settings: Settings) -> Catalog | None:
    """The catalog the settings name (``catalog.kind``); None for ``none``."""
    if settings.catalog.kind == "glue":
        return GlueCatalog.from_settings(settings)
    if settings.catalog.kind == "local":
        return LocalCatalog(settings.lake())
    return None
