"""The Athena engine: the same ``sql/`` files on Amazon Athena through PyAthena.

Tables ``<layer>.<table>`` become the Glue databases ``<database_prefix><layer>``. Athena reads
Delta tables natively but cannot time-travel them, so a query that asks for a version (``FOR
VERSION AS OF n``, ``FOR TIMESTAMP AS OF ...`` or ``as_of``) reads the snapshot table that
``lakehouse snapshot`` published for that version, and says how to publish it when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakehouse.catalog.register import snapshot_name
from lakehouse.catalog.store import Catalog, GlueCatalog
from lakehouse.config import Settings
from lakehouse.engines.sql import Moment, Param, Query, QueryError, TableRef
from lakehouse.errors import TableNotFoundError


class AthenaEngine:
    """Athena SQL on Amazon Athena; workgroup and result location come from the settings."""

    def __init__(self, settings: Settings, connection: Any = None,
                 catalog: Catalog | None = None) -> None:
        self.settings = settings
        self._connection = connection
        self._catalog = catalog

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = GlueCatalog.from_settings(self.settings)
        return self._catalog

    def connection(self) -> Any:
        if self._connection is None:
            from pyathena import connect

            athena, aws = self.settings.athena, self.settings.aws
            kwargs: dict[str, Any] = {"work_group": athena.workgroup,
                                      "poll_interval": athena.poll_interval_s,
                                      "region_name": aws.region}
            if athena.output_location:
                kwargs["s3_staging_dir"] = athena.output_location
            if aws.endpoint_url:
                kwargs["endpoint_url"] = aws.endpoint_url
            self._connection = connect(**kwargs)
        return self._connection

    def _snapshot_table(self, ref: TableRef) -> str:
        """The published snapshot that answers a time-travel reference."""
        version = ref.moment
        if not isinstance(version, int):
            from lakehouse.io.delta import snapshot

            try:
                version = snapshot(self.settings.lake(), ref.table, as_of=version).version
            except TableNotFoundError:
                raise QueryError(f"table {ref.table} does not exist in "
                                 f"{self.settings.lake_root}") from None
        name = snapshot_name(ref.table, version)
        database = self.settings.catalog.database(ref.table.layer)
        if self.catalog.get(database, name) is None:
            raise QueryError(
                f"Athena cannot time-travel Delta tables and version {version} of {ref.table} "
                f"is not published; run: lakehouse snapshot {ref.table} --version {version}")
        return name

    def translate(self, sql: str, params: Mapping[str, Param] | None = None,
                  as_of: Moment = None) -> str:
        """Athena SQL over the Glue databases, time travel resolved to published snapshots."""
        query = Query(sql, params)
        for ref in query.tables(as_of):
            name = ref.table.name if ref.moment is None else self._snapshot_table(ref)
            ref.rename(self.settings.catalog.database(ref.table.layer), name)
        return query.sql("athena")

    def rows(self, sql: str, params: Mapping[str, Param] | None = None,
             as_of: Moment = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        from pyathena.error import Error as AthenaError

        translated = self.translate(sql, params, as_of)
        cursor = self.connection().cursor()
        try:
            cursor.execute(translated)
            headers = [d[0] for d in cursor.description or []]
            return headers, [tuple(row) for row in cursor.fetchall()]
        except AthenaError as exc:
            raise QueryError(f"Athena query failed: {str(exc).splitlines()[0]}") from None
        finally:
            cursor.close()

    def query(self, sql: str, params: Mapping[str, Param] | None = None,
              as_of: Moment = None) -> Any:
        import pandas as pd

        headers, rows = self.rows(sql, params, as_of)
        return pd.DataFrame.from_records(rows, columns=headers)
