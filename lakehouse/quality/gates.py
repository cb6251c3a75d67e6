"""Quality gates: one Great Expectations suite run per table per batch, before the commit.

A gate validates a Spark DataFrame against the expectations defined next to the table it guards
(``lakehouse/silver/expectations.py``, ``lakehouse/gold/expectations.py``), records every result
for ``ops.dq_results`` and renders Data Docs under ``<lake>/_quality``. A failing gate blocks the
table's commit; the pipeline then exits with code 2.

Where a batch is validated: Great Expectations runs each metric as a Spark job over the batch
(two aggregate passes and one more query per column-map expectation), which costs about as much
for a day's 11 k rows as for a million. A batch of at most ``quality.in_memory_rows`` rows
(250 k by default) is therefore collected once - only the columns its expectations read - and
validated by Great Expectations' pandas engine in the driver: the same expectations, the same
results (``tests/quality/test_gates.py`` runs every case through both engines). Larger batches
are validated in Spark, so the driver's memory stays bounded whatever the table's size.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse.config import Settings
from lakehouse.io.delta import scanned_to_pandas
from lakehouse.io.lake import Lake, TableId
from lakehouse.pii.card import redact_pans
from lakehouse.runtime.spark import spark_step

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

log = logging.getLogger(__name__)

DQ_RESULTS = TableId("ops", "dq_results")
DQ_RESULTS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("table", T.StringType()),
    T.StructField("expectation", T.StringType()),
    T.StructField("column", T.StringType()),
    T.StructField("success", T.BooleanType()),
    T.StructField("observed_value", T.StringType()),
    T.StructField("unexpected_count", T.LongType()),
    T.StructField("unexpected_percent", T.DoubleType()),
    T.StructField("element_count", T.LongType()),
    T.StructField("validated_at", T.TimestampType()),
])
_MAX_OBSERVED = 500
SPARK, PANDAS = "spark", "pandas"  # the engines a batch is validated with


@dataclass(frozen=True)
class ExpectationResult:
    table: str
    expectation: str
    column: str | None
    success: bool
    observed: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    description: str | None = None  # what the expectation means, in words, where it says

    def describe(self) -> str:
        what = f"{self.expectation}({self.column})" if self.column else self.expectation
        details = []
        if self.observed is not None:
            details.append(f"observed {self.observed}")
        if self.unexpected_count:
            percent = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent else ""
            of = f" of {self.element_count:,} rows" if self.element_count else ""
            details.append(f"{self.unexpected_count:,}{of} unexpected{percent}")
        if self.description:  # the words first, Great Expectations' name after
            return (f"{self.table}: not met: {self.description} ({what}"
                    + (f": {', '.join(details)})" if details else ")"))
        return f"{self.table}: {what} failed" + (f": {', '.join(details)}" if details else "")


@dataclass(frozen=True)
class GateResult:
    """The outcome of one table's gate."""

    table: str
    results: tuple[ExpectationResult, ...]
    seconds: float
    engine: str = SPARK  # where Great Expectations ran: "spark" or "pandas"
    rows: int | None = None  # the batch's rows, when counted

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def where(self) -> str:
        """The engine, and the batch's rows when counted: ``pandas, 11,071 rows``."""
        return self.engine + (f", {self.rows:,} rows" if self.rows is not None else "")

    def summary(self) -> str:
        """What a gate's ``ops.run_log`` step says: ``0 of 18 expectations failed (pandas,
        11,071 rows)``."""
        return (f"{len(self.failures)} of {len(self.results)} expectations failed "
                f"({self.where()})")


@dataclass(frozen=True)
class Gate:
    """One gate of ``QualityGates.validate_all``: ``validate``'s arguments but the run id."""

    table: str
    df: DataFrame
    expectations: list[Expectation]
    rows: int | None = None


def _in_memory(df: DataFrame, columns: list[str]) -> Any:
    """``columns`` of ``df`` as a pandas frame: read from its files when it is a staged batch
    (``scanned_to_pandas``), else in one Spark job (Arrow). Decimals become doubles: Spark
    compares a decimal column with a bound (``min_value=0.01``) as doubles, and so does pandas
    then, where Python's exact ``Decimal('0.01') >= 0.01`` is false. Sums that must be exact
    are taken over integer columns (cents), as the Gold gates do."""
    read = scanned_to_pandas(df, columns)
    if read is not None:
        return read
    fields = {f.name: f.dataType for f in df.schema.fields}
    return df.select(*(df[c].cast("double").alias(c) if isinstance(fields[c], T.DecimalType)
                       else df[c] for c in columns)).toPandas()


def columns_read(expectations: list[Expectation], columns: list[str]) -> list[str]:
    """The ones of ``columns`` (in their order) that ``expectations`` read: their columns and
    the columns of their row conditions; the first column when they read none (a row count);
    every column when one checks the batch's columns themselves (their set, order or count)."""
    if any(e.expectation_type.startswith("expect_table_column") for e in expectations):
        return list(columns)
    named: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("name"), str):  # a row condition's column
                named.add(value["name"])
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        for key in ("column", "column_A", "column_B"):
            if kwargs.get(key):
                named.add(kwargs[key])
        named.update(kwargs.get("column_list") or [])
        collect(kwargs.get("row_condition"))
    return [c for c in columns if c in named] or columns[:1]


def _columns_of(kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about: one, a pair (A,B) or a list."""
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return None


# BASIC: observed values and unexpected counts, in as few Spark jobs as Great Expectations can
# bundle; no sample of unexpected values (that would be one more full scan per expectation, and
# values of rejected rows have no place in Data Docs). Checkpoints have no Data Docs action:
# this run's pages and the index are rendered once, by render_docs() at the end of the step,
# instead of the index once per gate.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


def _is_ours(checkpoint: Any, name: str, suite_id: str | None) -> bool:
    """A stored checkpoint as ``QualityGates`` makes it: one validation definition of the same
    name over the suite, no actions, the result format above."""
    definitions = checkpoint.validation_definitions
    return (len(definitions) == 1 and definitions[0].name == name
            and definitions[0].suite.id == suite_id and not checkpoint.actions
            and checkpoint.result_format == RESULT_FORMAT)


def _error_of(info: Any) -> str | None:
    """The message of the error an expectation raised instead of a result, if it did: Great
    Expectations gives one exception's details, or a map of them by the metric it computed."""
    if not isinstance(info, dict):
        return None
    found = [info] if "exception_message" in info else [
        v for v in info.values() if isinstance(v, dict) and "exception_message" in v]
    messages = [str(f["exception_message"]).strip() for f in found
                if f.get("raised_exception", True) and f.get("exception_message")]
    return messages[0].splitlines()[-1] if messages else None


def _plain(value: Any) -> Any:
    """A value ``json`` cannot write: a NumPy scalar (from the pandas engine) as its Python
    number, anything else as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=_plain)
    return redact_pans(text)[:_MAX_OBSERVED]


_GX = "great_expectations"
# The Data Docs index links this many of the latest validation results. Great Expectations
# reads every result it links each time it renders the index, so without a limit every gate of
# every run got slower as the lake's history grew; older results stay in the store (and every
# result in ops.dq_results).
INDEX_LIMIT = 200
_preloading: list[threading.Thread] = []


# Imported by jsonschema (which Great Expectations imports) when installed, as it is beside
# Jupyter: rfc3987-syntax 1.1 builds its grammar at import, 2.3 s of the 6.8 s Great
# Expectations takes to import here (python-jsonschema/jsonschema#1521). It serves only the
# "iri" formats of JSON Schema, which no gate checks, so a run leaves it out.
_UNUSED_SLOW_IMPORTS = ("rfc3987_syntax",)


def _import_great_expectations() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no network calls, ever
    blocked = [name for name in _UNUSED_SLOW_IMPORTS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        __import__(_GX)
    except Exception:  # the first gate imports it again and reports the error
        log.debug("background import of great_expectations failed", exc_info=True)
    finally:
        for name in blocked:  # later imports (a notebook's) find it again
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def _step(df: DataFrame, table: str, run_id: str) -> Any:
    """A gate's Spark jobs named as its step in the run log (``gate.<table>``)."""
    return spark_step(df.sparkSession, run_id, f"gate.{table}", "Great Expectations")


class QualityGates:
    """A Great Expectations file context kept with the lake (results and Data Docs).

    Cheap to create: Great Expectations is imported and its context opened on the first
    validation, so a run that gates nothing never pays for it.
    """

    def __init__(self, lake: Lake, *, in_memory_rows: int = 0) -> None:
        """``in_memory_rows``: batches of at most this many rows are validated in the driver
        (pandas engine); 0: every batch in Spark (``quality.in_memory_rows`` in a run)."""
        self.lake = lake
        self.in_memory_rows = in_memory_rows
        self._context: Any = None
        self._datasources: dict[str, Any] = {}
        self._unrendered: list[Any] = []  # this run's results and suites, for Data Docs

    @classmethod
    def of(cls, settings: Settings) -> QualityGates:
        """The gates of a run with ``settings``."""
        return cls(settings.lake(), in_memory_rows=settings.quality.in_memory_rows)

    @staticmethod
    def preload() -> None:
        """Start importing Great Expectations in a background thread, for a run that will
        gate something. The import is pure Python (5-12 s here, most of a small batch's
        step); the Spark work before the first gate waits on the JVM, so the two overlap. The
        first gate's own import waits for this one, so nothing is imported twice."""
        if _GX not in sys.modules and not _preloading:
            thread = threading.Thread(target=_import_great_expectations, name="gx-import",
                                      daemon=True)
            _preloading.append(thread)
            thread.start()

    @property
    def context(self) -> Any:
        if self._context is None:
            _import_great_expectations()
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            root = (f"{self.lake.root}/_quality" if self.lake.is_local
                    else os.path.join(os.environ.get("TMPDIR", "/tmp"), "lakehouse_quality"))
            self._context = gx.get_context(mode="file", project_root_dir=root)
            # the project's settings, saved once (once per lake); a context that read the
            # config variables file is opened again without it
            variables = self._context.variables
            without_file = _without_config_variables(variables)
            if _limit_docs_index(variables) | without_file:
                variables.save()
            if without_file:
                self._context = gx.get_context(mode="file", project_root_dir=root)
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
            try:
                source = self._context.data_sources.get("lakehouse")
            except (KeyError, ValueError):
                source = None
            if source is None or source.persist:
                # Every batch is staged Parquet (or a small frame): each metric's Spark job
                # reads the columns it needs again, where persisting (the default) cached every
                # column in memory first - 2.3 s of the 7.5 s the 4 M monthly-spend gate took,
                # and memory besides. A lake gated before this setting gets it here (its
                # dataframe assets are added again on demand).
                source = self._context.data_sources.add_or_update_spark("lakehouse",
                                                                        persist=False)
            self._datasources[SPARK] = source
        return self._context

    def _datasource(self, engine: str) -> Any:
        self.context  # noqa: B018 - opening the context creates the Spark datasource
        if engine not in self._datasources:
            try:
                self._datasources[engine] = self._context.data_sources.get(f"lakehouse_{engine}")
            except (KeyError, ValueError):
                self._datasources[engine] = self._context.data_sources.add_pandas(
                    f"lakehouse_{engine}")
        return self._datasources[engine]

    def _batch_definition(self, name: str, engine: str) -> Any:
        source = self._datasource(engine)
        try:
            asset = source.get_asset(name)
        except LookupError:
            asset = source.add_dataframe_asset(name)
        try:
            return asset.get_batch_definition("batch")
        except (KeyError, ValueError, LookupError):
            return asset.add_batch_definition_whole_dataframe("batch")

    def _checkpoint(self, table: str, engine: str, expectations: list[Expectation]) -> Any:
        """The checkpoint that validates ``table`` on ``engine`` with ``expectations`` (its
        suite saved). A lake gated before has the suite, validation definition and checkpoint
        already: the suite is saved with its new expectations (each run's carry its own
        figures: row counts, Silver's totals) and the other two, which name it, are read back
        as they are. Great Expectations' ``add_or_update`` of each compared every stored
        expectation with every new one (to keep their ids, which nothing here reads): 0.15 s
        of each gate's 0.45 s on a small batch."""
        import great_expectations as gx
        from great_expectations.exceptions import DataContextError

        context = self.context
        # one validation definition per table and engine: each names its datasource's asset
        name = table if engine == SPARK else f"{table} ({engine})"
        try:
            suite = context.suites.get(table)
        except DataContextError:
            suite = None
        if suite is not None:
            # copies: saving gives each an id, and the expectations are the caller's
            suite.expectations = [e.copy() for e in expectations]
            suite.save()
            try:
                checkpoint = context.checkpoints.get(name)
            except DataContextError:
                checkpoint = None
            if checkpoint is not None and _is_ours(checkpoint, name, suite.id):
                return checkpoint
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=table, expectations=expectations))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=self._batch_definition(table, engine),
                                    suite=suite))
        return context.checkpoints.add_or_update(gx.Checkpoint(
            name=name, validation_definitions=[definition], actions=[],
            result_format=RESULT_FORMAT))

    def validate(self, table: str, df: DataFrame, expectations: list[Expectation],
                 run_id: str, *, rows: int | None = None) -> GateResult:
        """Run one suite over ``df`` (``rows``: its number of rows, counted here when unknown
        and needed to choose the engine); ``render_docs`` puts the result into Data Docs."""
        started = time.perf_counter()
        with _step(df, table, run_id):
            engine, batch, rows = self._batch(df, expectations, rows)
            return self._run(table, engine, batch, rows, expectations, run_id, started)

    def validate_all(self, gates: Sequence[Gate], run_id: str) -> list[GateResult]:
        """``validate`` of each gate, in order. The batches validated in the driver are fetched
        from Spark ahead, two at a time: the next gates' Spark jobs run while Great
        Expectations checks the current batch in Python. Each result's time runs from the
        end of the one before (the first: from the call), so the times add up to the call's."""
        results = []
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="gate-batch") as pool:
            batches = [pool.submit(self._named_batch, g, run_id) for g in gates]
            started = time.perf_counter()
            for gate, batch in zip(gates, batches, strict=True):
                with _step(gate.df, gate.table, run_id):
                    results.append(self._run(gate.table, *batch.result(), gate.expectations,
                                             run_id, started))
                started = time.perf_counter()
        return results

    def in_memory(self, rows: int) -> bool:
        """Whether a batch of ``rows`` rows is validated in the driver (pandas engine)."""
        return self.in_memory_rows > 0 and rows <= self.in_memory_rows

    def _named_batch(self, gate: Gate, run_id: str) -> tuple[str, Any, int | None]:
        with _step(gate.df, gate.table, run_id):
            return self._batch(gate.df, gate.expectations, gate.rows)

    def _batch(self, df: DataFrame, expectations: list[Expectation],
               rows: int | None) -> tuple[str, Any, int | None]:
        """The engine a gate runs on, what it validates (``df``, or its columns the
        expectations read as a pandas frame), and the batch's rows (counted if unknown)."""
        if rows is None and self.in_memory_rows > 0:
            rows = df.count()
        if rows is not None and self.in_memory(rows):
            return PANDAS, _in_memory(df, columns_read(expectations, df.columns)), rows
        return SPARK, df, rows

    def _run(self, table: str, engine: str, batch: Any, rows: int | None,
             expectations: list[Expectation], run_id: str, started: float) -> GateResult:
        import great_expectations as gx
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        checkpoint = self._checkpoint(table, engine, expectations)
        # The run time is given: without one, Great Expectations parses the run name as a
        # date, and about 1 run id in 2000 (``...Z-87a22a``: "a" and "ad" read as a.m. and
        # an era) parses into an impossible UTC offset that fails the store's key.
        outcome = checkpoint.run(batch_parameters={"dataframe": batch},
                                 run_id=gx.core.run_identifier.RunIdentifier(
                                     run_name=run_id, run_time=datetime.now(UTC)))
        results = []
        for identifier, validation in outcome.run_results.items():
            self._unrendered += [identifier,
                                 ExpectationSuiteIdentifier(name=validation.suite_name)]
            for item in validation.results:
                config = item.expectation_config
                assert config is not None  # every result carries its expectation
                result = item.result or {}
                column = _columns_of(config.kwargs)
                unexpected = result.get("unexpected_count")
                if unexpected is None and result.get("element_count") == 0:
                    unexpected = 0  # none of no rows (Spark sums no rows to null, pandas to 0)
                error = None if item.success else _error_of(item.exception_info)
                observed = (f"an error: {error}" if error is not None
                            else result.get("observed_value"))
                results.append(ExpectationResult(
                    table, config.type, column, bool(item.success),
                    _short(observed), unexpected,
                    result.get("unexpected_percent"), result.get("element_count"),
                    config.description))
        gate = GateResult(table, tuple(results), round(time.perf_counter() - started, 3),
                          engine, rows)
        log.info("gate %s: %s in %.1fs (%s)", table, "passed" if gate.success else "FAILED",
                 gate.seconds, gate.where())
        return gate

    def render_docs(self) -> str | None:
        """Renders the validations since the last call into Data Docs (one page each, and the
        index once); the index page, once a gate has run."""
        if self._context is None:
            return None
        if self._unrendered:
            self._context.build_data_docs(resource_identifiers=self._unrendered)
            self._unrendered = []
        sites = self._context.get_docs_sites_urls()
        url = sites[0].get("site_url") if sites else None
        return url.removeprefix("file://") if url else None


def _without_config_variables(variables: Any) -> bool:
    """Turns off the project's config variables file (``uncommitted/config_variables.yml``);
    True when it was on (the caller saves the settings and opens the context again).

    Great Expectations reads and parses that file (YAML) each time it reads one of its
    settings - about 270 times in a small run's seven gates, 1.0 s of their 6.7 s - for
    ``${VARIABLE}`` substitutions in ``great_expectations.yml``, which this project never
    writes: the gates' settings are the lake's config (``conf/``), and no credentials live
    here. Environment variables are still substituted."""
    if not variables.config_variables_file_path:
        return False
    variables.config_variables_file_path = None
    return True


def _limit_docs_index(variables: Any) -> bool:
    """Caps the validation results the Data Docs index links (``INDEX_LIMIT``); True when it
    changed the settings (the caller saves them)."""
    sites = variables.data_docs_sites or {}
    changed = False
    for site in sites.values():
        index = site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
        if index.get("validation_results_limit") != INDEX_LIMIT:
            index["validation_results_limit"] = INDEX_LIMIT
            changed = True
    if changed:
        variables.data_docs_sites = sites
    return changed


def results_records(run_id: str, gates: list[GateResult]) -> list[tuple[Any, ...]]:
    """The rows of ``ops.dq_results`` (``DQ_RESULTS_SCHEMA``) for a run's gates."""
    now = datetime.now(UTC)
    return [(run_id, r.table, r.expectation, r.column, r.success, r.observed,
             r.unexpected_count, r.unexpected_percent, r.element_count, now)
            for g in gates for r in g.results]
