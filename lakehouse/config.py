"""Typed, frozen configuration built once from YAML files, flags and environment variables.

Precedence (later wins): ``conf/lakehouse.yaml`` -> ``conf/env/<environment>.yaml`` -> environment
variables (``LAKEHOUSE_*``) -> explicit arguments. Source descriptions are ``conf/sources/*.yaml``.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lakehouse.errors import ConfigError
from lakehouse.io.lake import Lake

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The wheel (`make package`, used on Glue where there is no checkout) carries conf/ as
# lakehouse/_conf; a checkout or an editable install uses the repository's conf/.
PACKAGED_CONF_DIR = Path(__file__).resolve().parent / "_conf"
DEFAULT_CONF_DIR = (PROJECT_ROOT / "conf" if (PROJECT_ROOT / "conf" / "lakehouse.yaml").is_file()
                    else PACKAGED_CONF_DIR)

PiiClass = Literal["none", "pan", "name", "address", "contact", "birth_date", "identifier",
                   "sensitive_auth"]
PII_ORDER = ("none", "birth_date", "identifier", "contact", "address", "name", "pan",
             "sensitive_auth")
SILVER_PII = ("none", "pan", "birth_date", "identifier")  # what Silver may derive fields from
RESERVED_COLUMNS = frozenset({"corrupt_record", "source_file", "ingest_run_id", "ingested_at",
                              "row_hash", "raw_hash", "reasons", "landed_at"})
_TYPE_PATTERN = re.compile(
    r"^(string|int|long|double|boolean|date|timestamp|decimal\(\d+,\s*\d+\))$")


# Python codec name -> Java charset name, where they differ
_JAVA_CHARSETS = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "iso8859-15": "ISO-8859-15",
                  "cp1252": "windows-1252", "ascii": "US-ASCII", "utf-16": "UTF-16",
                  "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LayoutColumn(_Frozen):
    """One raw column of a landing file, as Bronze stores it (text)."""

    name: str
    pii: PiiClass = "none"


class FieldSpec(_Frozen):
    """How one Silver field is taken from raw columns, parsed and checked."""

    source: list[str] = Field(alias="from")
    type: str = "string"
    formats: tuple[str, ...] = ()
    required: bool = True
    min: float | None = None
    max: float | None = None
    accepted: tuple[str, ...] = ()
    reference: str | None = None
    reason: str | None = None
    lower: bool = False
    upper: bool = False
    strip_prefix: str | None = None
    separator: str = " "

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower().replace(" ", "")
        if not _TYPE_PATTERN.match(value):
            raise ValueError(f"unknown type {value!r} (string, int, long, double, boolean, date, "
                             "timestamp or decimal(p,s))")
        return value

    @model_validator(mode="after")
    def _formats_for_temporal(self) -> FieldSpec:
        if self.type in ("date", "timestamp") and not self.formats:
            raise ValueError(f"a {self.type} field needs 'formats'")
        return self


class CsvOptions(_Frozen):
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    multiline: bool = False

    @field_validator("delimiter", "quote", "escape")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"must be one character, got {value!r}")
        return value


class SourceConfig(_Frozen):
    """A landing source: file format, raw layout, and the mapping onto a Silver entity."""

    name: str
    entity: str
    format: Literal["csv", "json"]
    encoding: str = "utf-8"
    csv: CsvOptions = CsvOptions()
    timezone: str = "UTC"
    natural_key: tuple[str, ...]
    layout: tuple[LayoutColumn, ...]
    fields: dict[str, FieldSpec]
    path: str | None = None
    description: str | None = None

    @field_validator("layout", mode="before")
    @classmethod
    def _layout_entries(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("layout must be a list of column names or {name, pii} maps")
        return [{"name": v} if isinstance(v, str) else v for v in value]

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None

    @property
    def java_encoding(self) -> str:
        """The encoding as Spark's (Java's) readers name it."""
        return _JAVA_CHARSETS.get(self.encoding, self.encoding)

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("must be lower_snake_case (it names a folder and a table)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        raw = {c.name for c in self.layout}
        if len(raw) != len(self.layout):
            raise ValueError("layout lists a column twice")
        for name, spec in self.fields.items():
            missing = [s for s in spec.source if s not in raw]
            if missing:
                raise ValueError(f"field {name!r} reads {missing} which the layout does not list")
        unknown_keys = [k for k in self.natural_key if k not in self.fields]
        if unknown_keys:
            raise ValueError(f"natural_key names unknown fields {unknown_keys}")
        reserved = sorted(raw & RESERVED_COLUMNS)
        if reserved:
            raise ValueError(f"layout uses reserved column names {reserved}")
        for name in self.fields:
            pii = self.field_pii(name)
            if pii not in SILVER_PII:
                raise ValueError(f"field {name!r} reads {pii} data, which Silver never keeps "
                                 "(leave it in the layout only: Bronze keeps it)")
            if pii in ("pan", "identifier") and self.fields[name].type != "string":
                raise ValueError(f"field {name!r} holds {pii} data and must have type string")
            if pii == "birth_date" and self.fields[name].type != "date":
                raise ValueError(f"field {name!r} holds a birth date and must have type date")
        return self

    def field_pii(self, field: str) -> str:
        """The most sensitive PII class among the raw columns a field reads."""
        classes = [self.pii_of_raw[c] for c in self.fields[field].source]
        return max(classes, key=PII_ORDER.index)

    @property
    def landing_folder(self) -> str:
        return self.path or self.name

    @cached_property
    def pii_of_raw(self) -> dict[str, str]:
        return {c.name: c.pii for c in self.layout}

    @property
    def stored_layout(self) -> tuple[LayoutColumn, ...]:
        """Raw columns Bronze keeps: everything but sensitive authentication data."""
        return tuple(c for c in self.layout if c.pii != "sensitive_auth")


class SparkSettings(_Frozen):
    master: str = "local[2]"
    shuffle_partitions: int = 4
    driver_memory: str = "2g"
    # Spark jobs a step may run at once where its frames do not depend on each other (Gold's
    # tables and the gates' Silver figures): a job's idle cores go to the others' tasks
    concurrent_jobs: int = Field(default=2, ge=1)
    # How a local JVM compiles Spark's code (lakehouse.runtime.spark.jit_options): "quick"
    # (C1 only: compiled at once, runs slower), "peak" (the JVM's default, C1 then C2: slower
    # to warm up, fastest once warm), "auto": quick for a pipeline run that reads little
    # (lakehouse.pipeline.workload), else peak. Glue's JVM is not ours to set.
    jit: Literal["auto", "quick", "peak"] = "auto"
    extra: dict[str, str] = {}


class TokenizationSettings(_Frozen):
    """Where the HMAC key for card tokens comes from (first one found wins)."""

    key_env: str = "LAKEHOUSE_TOKEN_KEY"
    secret_id: str | None = None
    key_file: str | None = None
    allow_local_key: bool = True


class QualitySettings(_Frozen):
    max_quarantine_rate: dict[str, float] = {"default": 0.10}
    # Gate batches of at most this many rows are validated in the driver by Great
    # Expectations' pandas engine (one Spark job collects them); larger ones in Spark. 0: all
    # in Spark. See lakehouse/quality/gates.py. Measured on gold.customer_monthly_spend's 7
    # expectations: 148 k rows 0.6-0.7 s in pandas vs 1.0-1.1 s in Spark (the driver's peak
    # 408 MB vs 397 MB); 436 k rows 1.4 s either way.
    in_memory_rows: int = Field(default=250_000, ge=0)

    def quarantine_limit(self, source: str) -> float:
        return self.max_quarantine_rate.get(source, self.max_quarantine_rate.get("default", 1.0))


class CatalogSettings(_Frozen):
    """Where tables are registered after each run, and the databases' names there."""

    kind: Literal["local", "glue", "none"] = "local"
    database_prefix: str = ""        # Glue: "lakehouse_" -> databases lakehouse_gold, ...

    def database(self, layer: str) -> str:
        return f"{self.database_prefix}{layer}"


class AwsSettings(_Frozen):
    """How the AWS adapters reach AWS (boto3's defaults when unset)."""

    region: str | None = None
    endpoint_url: str | None = None  # an S3/Glue/Athena-compatible endpoint (tests use moto)
    kms_key_id: str | None = None    # SSE-KMS key for landing uploads (Terraform: alias/lakehouse)


class AthenaSettings(_Frozen):
    """The query engine for analysts: ``local`` (DuckDB, no JVM) or ``athena``."""

    engine: Literal["local", "athena"] = "local"
    workgroup: str = "primary"
    output_location: str | None = None  # s3://...; None when the workgroup enforces its own
    poll_interval_s: float = 0.5


class Settings(_Frozen):
    """Everything a run needs to know, resolved once."""

    environment: str = "local"
    lake_root: str = "lake"
    landing_root: str = "landing"
    conf_dir: str = str(DEFAULT_CONF_DIR)
    spark: SparkSettings = SparkSettings()
    tokenization: TokenizationSettings = TokenizationSettings()
    quality: QualitySettings = QualitySettings()
    layer_roots: dict[str, str] = {}
    catalog: CatalogSettings = CatalogSettings()
    aws: AwsSettings = AwsSettings()
    athena: AthenaSettings = AthenaSettings()
    sources: dict[str, SourceConfig] = {}
    # how long a run or maintenance command waits for the lake's lock held by another (0: it
    # fails at once, naming the holder)
    lock_wait_s: float = Field(default=0.0, ge=0)

    @property
    def reference_dir(self) -> Path:
        return Path(self.conf_dir) / "reference"

    def lake(self) -> Lake:
        """Where the tables live (``lake_root`` and any per-layer roots)."""
        return Lake.at(self.lake_root, self.layer_roots)


_ENV_OVERRIDES = {
    "LAKEHOUSE_ENV": ("environment",),
    "LAKEHOUSE_LOCK_WAIT": ("lock_wait_s",),
    "LAKEHOUSE_LAKE": ("lake_root",),
    "LAKEHOUSE_LANDING": ("landing_root",),
    "LAKEHOUSE_SPARK_MASTER": ("spark", "master"),
    "LAKEHOUSE_SHUFFLE_PARTITIONS": ("spark", "shuffle_partitions"),
    "LAKEHOUSE_DRIVER_MEMORY": ("spark", "driver_memory"),
    "LAKEHOUSE_CATALOG": ("catalog", "kind"),
    "LAKEHOUSE_ENGINE": ("athena", "engine"),
    "LAKEHOUSE_ATHENA_WORKGROUP": ("athena", "workgroup"),
    "LAKEHOUSE_ATHENA_OUTPUT": ("athena", "output_location"),
    "LAKEHOUSE_AWS_ENDPOINT": ("aws", "endpoint_url"),
    "LAKEHOUSE_AWS_REGION": ("aws", "region"),
    "LAKEHOUSE_KMS_KEY": ("aws", "kms_key_id"),
    "LAKEHOUSE_BRONZE_ROOT": ("layer_roots", "bronze"),
    "LAKEHOUSE_SILVER_ROOT": ("layer_roots", "silver"),
    "LAKEHOUSE_GOLD_ROOT": ("layer_roots", "gold"),
}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _one_line(exc: ValidationError, origin: Path | str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{origin}: {where}: {message}{extra}"


def load_source(path: Path) -> SourceConfig:
    """Parse and validate one ``conf/sources/*.yaml`` file."""
    data = _read_yaml(path)
    try:
        return SourceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None


def load_sources(conf_dir: Path) -> dict[str, SourceConfig]:
    folder = conf_dir / "sources"
    if not folder.is_dir():
        raise ConfigError(f"no sources folder at {folder}")
    sources: dict[str, SourceConfig] = {}
    for path in sorted(folder.glob("*.y*ml")):
        source = load_source(path)
        if source.name in sources:
            raise ConfigError(f"{path}: source name {source.name!r} is used twice")
        sources[source.name] = source
    if not sources:
        raise ConfigError(f"no source YAML files in {folder}")
    return sources


def load_settings(
    conf_dir: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the run's settings; ``overrides`` (e.g. ``lake_root=...``) win over everything."""
    env = os.environ if environ is None else environ
    conf = Path(conf_dir or env.get("LAKEHOUSE_CONF") or DEFAULT_CONF_DIR).resolve()
    if not conf.is_dir():
        raise ConfigError(f"configuration folder not found: {conf}")
    data: dict[str, Any] = {}
    base = conf / "lakehouse.yaml"
    if base.exists():
        data = _read_yaml(base)
    environment = (overrides.get("environment") or env.get("LAKEHOUSE_ENV")
                   or data.get("environment") or "local")
    env_file = conf / "env" / f"{environment}.yaml"
    if env_file.exists():
        data = _merge(data, _read_yaml(env_file))
    for variable, path in _ENV_OVERRIDES.items():
        if env.get(variable):
            _set_path(data, path, env[variable])
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    data["environment"] = environment
    data["conf_dir"] = str(conf)
    data["sources"] = load_sources(conf)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, base)) from None
