"""What the reliability modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# The data here is tiny: one shuffle partition makes a whole run (dozens of small Spark jobs,
# most of them the quality gates') several times faster than the session's two, and results do
# not depend on partitioning. Subprocess runs get the same through LAKEHOUSE_SHUFFLE_PARTITIONS.
SHUFFLE_PARTITIONS = "1"


@pytest.fixture(scope="module")
def one_shuffle_partition(spark) -> Iterator[None]:
    """One shuffle partition for this module's runs; the shared session gets its value back."""
    key = "spark.sql.shuffle.partitions"
    before = spark.conf.get(key)
    spark.conf.set(key, SHUFFLE_PARTITIONS)
    try:
        yield
    finally:
        spark.conf.set(key, before)
