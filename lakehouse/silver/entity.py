"""What a Silver entity is: its table, key, columns, and the step from parsed fields to rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import SourceConfig
from lakehouse.errors import ConfigError
from lakehouse.io.lake import TableId
from lakehouse.silver.fields import output_columns

ROW_HASH = "row_hash"
LINEAGE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("source_file", T.StringType()),
    T.StructField("ingest_run_id", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
    T.StructField(ROW_HASH, T.StringType()),
])


@dataclass(frozen=True)
class Entity:
    """A Silver table fed by one or more sources."""

    name: str
    key: tuple[str, ...]
    required_fields: tuple[str, ...]
    columns: T.StructType          # business columns, in order
    derive: Callable[[DataFrame], DataFrame] = lambda df: df
    description: str = ""
    # Set for entities kept as SCD2: the table holds the current version per ``current_key``,
    # <name>_history every version; the last key column orders the versions.
    current_key: tuple[str, ...] | None = None

    @property
    def table(self) -> TableId:
        return TableId("silver", self.name)

    @property
    def history_table(self) -> TableId | None:
        return TableId("silver", f"{self.name}_history") if self.current_key else None

    @property
    def version_column(self) -> str:
        return self.key[-1]

    @property
    def quarantine_table(self) -> TableId:
        return TableId("silver", f"{self.name}_quarantine")

    @property
    def schema(self) -> T.StructType:
        return T.StructType(self.columns.fields + LINEAGE_SCHEMA.fields)

    def check_source(self, source: SourceConfig) -> None:
        """A source can feed this entity only if it provides its key and required fields."""
        if tuple(source.natural_key) != self.key:
            raise ConfigError(f"source {source.name}: natural_key must be {list(self.key)} for "
                              f"entity {self.name}")
        provided = {out for name in source.fields
                    for out in output_columns(name, source.field_pii(name))}
        missing = [f for f in self.required_fields if f not in provided]
        if missing:
            hints = [h for h in map(_how_to_provide, missing) if h]
            raise ConfigError(f"source {source.name}: entity {self.name} needs fields {missing}"
                              + (f" ({'; '.join(hints)})" if hints else ""))

    def conform(self, df: DataFrame) -> DataFrame:
        """Derived columns, then the table's exact columns and types (absent ones are null)."""
        derived = self.derive(df)
        present = set(derived.columns)
        business = [F.col(f.name).cast(f.dataType).alias(f.name) if f.name in present
                    else F.lit(None).cast(f.dataType).alias(f.name) for f in self.columns.fields]
        row_hash = F.sha2(F.to_json(F.struct(*[F.col(f.name) for f in self.columns.fields])), 256)
        return (derived.select(*business, *[F.col(f.name) for f in LINEAGE_SCHEMA.fields[:-1]])
                .withColumn(ROW_HASH, row_hash))


def _how_to_provide(column: str) -> str | None:
    """How a source provides a Silver column that is not a field of the same name: the columns
    a PII field becomes (``lakehouse.silver.fields.output_columns``)."""
    if column.endswith("_masked") and column != "_masked":
        stem = column.removesuffix("_masked")
        return (f"{column} comes from a field named {stem} or {stem}_number that reads a "
                "layout column marked 'pii: pan'")
    if column.endswith("_token") and column != "_token":
        stem = column.removesuffix("_token")
        return (f"{column} comes from a field named {stem} or {stem}_number that reads a "
                f"layout column marked 'pii: pan', or from a field named {stem} that reads one "
                "marked 'pii: identifier'")
    if column.endswith("_year") and column != "_year":
        stem = column.removesuffix("_year")
        return (f"{column} comes from a field named {stem} or {stem}_date that reads a layout "
                "column marked 'pii: birth_date'")
    return None
