"""One local Spark session for the whole test run (local[2], one shuffle partition)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LAKEHOUSE_TOKEN_KEY", "test-only-tokenization-key")
# The test run's sessions (this one, and the command line's in subprocesses) neither write nor
# map a JVM class archive in the user's cache; tests/runtime/test_class_archive.py does, in
# folders of its own.
os.environ.setdefault("LAKEHOUSE_CLASS_ARCHIVE", "off")

# The test session's JVM is not a pipeline run's: one driver, alive for the whole test run,
# plans thousands of tiny queries over a few MB. Measured over the whole suite with the
# pipeline's options (G1, the JIT's default thresholds), its JIT compilers took 246 s of CPU,
# G1's collector threads 127 s, the tasks themselves 144 s. So, for this JVM only:
# - the parallel collector: no concurrent marking of a heap kept nearly full by Spark's
#   caches (generated classes, plans), which G1 cycled through about every two seconds;
# - C2 (the optimising compiler) four times later: most of what it compiled was Spark's
#   planning code at the start of the run, where a few thousand tiny queries never repay it.
# Subprocesses (the command line, tests/reliability) keep the pipeline's own options.
_PARALLEL_GC = ("-XX:+UseG1GC", "-XX:+UseParallelGC")
_C2_LATER = ("-XX:Tier4InvocationThreshold=20000", "-XX:Tier4MinInvocationThreshold=2400",
             "-XX:Tier4CompileThreshold=60000", "-XX:Tier4BackEdgeThreshold=160000")


def _session_java_options() -> str:
    from lakehouse.runtime.spark import LOCAL_CONF

    options = LOCAL_CONF["spark.driver.extraJavaOptions"]
    assert _PARALLEL_GC[0] in options.split(), "the pipeline's collector changed: review this"
    return " ".join([options.replace(*_PARALLEL_GC), *_C2_LATER])


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from lakehouse.config import SparkSettings
    from lakehouse.runtime.spark import get_spark

    # One shuffle partition: test data is tiny, and a run's many small jobs (most of them the
    # quality gates') take about half the time they take with two. Input files still make
    # several partitions, so multi-file writes and merges are exercised.
    session = get_spark(SparkSettings(
        master="local[2]", shuffle_partitions=1, driver_memory="2g",
        extra={"spark.driver.extraJavaOptions": _session_java_options()}),
        app_name="lakehouse-tests")
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path):
    from lakehouse.io.lake import Lake

    return Lake.at(tmp_path / "lake")


@pytest.fixture
def delta(spark, lake):
    from lakehouse.io.delta import delta_io

    return delta_io(spark, lake)
