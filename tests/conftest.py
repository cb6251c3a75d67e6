"""One local Spark session for the whole test run (local[2], one shuffle partition)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LAKEHOUSE_TOKEN_KEY", "test-only-tokenization-key")

SMALL_DATA_CONF = {"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"}


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from lakehouse.config import SparkSettings
    from lakehouse.runtime.spark import get_spark

    # Test data is tiny, and a run is many small Spark jobs (most of them the quality gates'):
    # one shuffle partition, and no adaptive re-planning (a job per shuffle stage) or
    # whole-stage code generation (compiled per plan), which cost more than the few rows they
    # process; results are the same. Input files still make several partitions, so multi-file
    # writes and merges are exercised. Runs the tests start as commands (tests/test_cli.py,
    # tests/reliability/test_runs.py), the demo and the benchmarks use the defaults.
    session = get_spark(SparkSettings(master="local[2]", shuffle_partitions=1,
                                      driver_memory="2g", extra=SMALL_DATA_CONF),
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
