"""Adding a batch's aggregates to a Gold table's: the incremental path for additive tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType


def add_up(current: DataFrame, batch: DataFrame, keys: Sequence[str],
           sums: Mapping[str, DataType]) -> DataFrame:
    """``current`` and ``batch`` (the same aggregates, over earlier rows and over new rows)
    combined per ``keys``: each column of ``sums`` added up and cast back to its type. Keys
    compare as in a group-by, so a null key (a transaction without a state) adds to its own
    group instead of starting a second one."""
    columns = [*keys, *sums]
    both = current.select(*columns).unionByName(batch.select(*columns))
    return both.groupBy(*keys).agg(*(F.sum(c).cast(t).alias(c) for c, t in sums.items()))
