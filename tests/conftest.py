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


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from lakehouse.config import SparkSettings
    from lakehouse.runtime.spark import get_spark

    # One shuffle partition: test data is tiny, and a run's many small jobs (most of them the
    # quality gates') take about half the time they take with two. Input files still make
    # several partitions, so multi-file writes and merges are exercised.
    session = get_spark(SparkSettings(master="local[2]", shuffle_partitions=1,
                                      driver_memory="2g"), app_name="lakehouse-tests")
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
