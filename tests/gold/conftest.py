"""Gold tests run many small, many-join plans: trade Spark's big-data optimisations for speed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Compiling whole-stage code and re-planning adaptively cost more than the few rows they
# process here; the results are the same. Restored afterwards for the rest of the session.
FAST_SMALL_PLANS = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}


@pytest.fixture(scope="package", autouse=True)
def small_plans(spark) -> Iterator[None]:
    previous = {key: spark.conf.get(key, None) for key in FAST_SMALL_PLANS}
    for key, value in FAST_SMALL_PLANS.items():
        spark.conf.set(key, value)
    yield
    for key, value in previous.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)
