"""The workload estimate that chooses a pipeline session's JIT, on a real lake and landing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.pipeline import workload
from lakehouse.pipeline.workload import (
    SMALL_LANDING_BYTES,
    SMALL_SILVER_BYTES,
    Workload,
    estimate,
    pipeline_spark,
)
from lakehouse.quality.gates import QualityGates
from lakehouse.runtime.spark import QUICK_JIT, jit_options

MB = 2**20


@pytest.mark.parametrize(("landing", "silver", "small"), [
    (0, 0, True), (SMALL_LANDING_BYTES, SMALL_SILVER_BYTES, True),
    (SMALL_LANDING_BYTES + 1, 0, False), (0, SMALL_SILVER_BYTES + 1, False),
    (3 * MB, 177 * MB, True),    # a day on the 1 M benchmark lake
    (11 * MB, 581 * MB, False),  # a day on the 4 M one
    (239 * MB, 0, False)])       # the 1 M full load
def test_a_small_run_reads_little_landing_data_and_little_silver(landing, silver, small):
    assert Workload(landing, silver).small is small
    assert Workload(landing, silver).describe().endswith("a small run" if small
                                                          else "a large run")


def landing_data_bytes(path: Path) -> int:
    """A landing file's size as the estimate counts it (gzip as 8x)."""
    return path.stat().st_size * (8 if path.name.endswith(".gz") else 1)


def test_before_any_run_every_landing_file_counts(tmp_path):
    generate(tmp_path / "landing", customers=20, months=1, seed=3, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"))
    files = [p for p in (tmp_path / "landing").rglob("*") if p.is_file()]
    assert estimate(settings) == Workload(sum(landing_data_bytes(p) for p in files), 0)
    # after a run: tests/pipeline/test_bronze_to_silver.py


def test_a_running_session_is_used_as_it_is(spark, tmp_path, monkeypatch):
    def no_estimate(*args, **kwargs):
        raise AssertionError("a running session needs no estimate")

    monkeypatch.setattr(workload, "estimate", no_estimate)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"))
    assert pipeline_spark(settings) is spark


@pytest.fixture
def preloads(monkeypatch) -> list[str]:
    """Calls of ``QualityGates.preload`` (the Great Expectations import is not started)."""
    calls: list[str] = []
    monkeypatch.setattr(QualityGates, "preload", staticmethod(lambda: calls.append("preload")))
    return calls


def new_sessions(monkeypatch) -> list[dict]:
    """Replaces the session factory: no second JVM starts in this process."""
    started: list[dict] = []

    def new_local_session(spark_settings, *, write_archive, small_run):
        # what _local_session does with the question: jit_options
        started.append({"jit": spark_settings.jit, "write_archive": write_archive,
                        "options": jit_options(spark_settings, small_run)})
        return "session"

    monkeypatch.setattr(workload, "get_spark", new_local_session)
    return started


@pytest.mark.parametrize(("jit", "small_run", "said"), [
    ("auto", True, "C1 only (spark.jit: quick)"), ("peak", False, None)])
def test_a_new_session_is_told_whether_the_run_is_small(tmp_path, monkeypatch, preloads, jit,
                                                        small_run, said):
    """The decision's wiring; the options reaching a real JVM: tests/runtime/test_class_archive.py
    (the session factory is replaced here, so no second JVM starts in this process)."""
    generate(tmp_path / "landing", customers=20, months=1, seed=3, defect_rate=0.0)
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"),
                             spark={"jit": jit})
    started = new_sessions(monkeypatch)
    messages: list[str] = []
    assert pipeline_spark(settings, progress=messages.append) == "session"
    assert started == [{"jit": jit, "write_archive": True,
                        "options": QUICK_JIT if small_run else ()}]
    if said is None:
        assert messages == []  # forced: nothing estimated
        assert preloads == []  # the run imports Great Expectations once it finds work
    else:
        assert len(messages) == 1 and messages[0].startswith("spark: ")
        assert "MB of new landing data" in messages[0] and messages[0].endswith(said)
        # landing data to load and gate: Great Expectations imports while the JVM starts
        assert preloads == ["preload"]


def test_a_run_with_nothing_to_load_does_not_import_great_expectations_early(
        tmp_path, monkeypatch, preloads):
    (tmp_path / "landing").mkdir()
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"))
    started = new_sessions(monkeypatch)
    assert pipeline_spark(settings) == "session"
    assert started[0]["options"] == QUICK_JIT  # estimated: nothing to load is a small run
    assert preloads == []
