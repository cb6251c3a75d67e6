"""Adding a batch's aggregates to a Gold table's: the incremental path for additive tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from operator import and_

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType


def add_up(current: DataFrame, batch: DataFrame, keys: Sequence[str],
           sums: Mapping[str, DataType]) -> DataFrame:
    """``current`` and ``batch`` (the same aggregates, over earlier rows and over new rows)
    combined per ``keys``: each column of ``sums`` added up and cast back to its type. Keys
    compare as in a group-by, so a null key (a transaction without a state) adds to its own
    group instead of starting a second one.

    Only the rows of ``current`` whose keys the batch has are added to; the others pass through
    as they are, found by a broadcast join with the batch's keys (a day's batch is small).
    Grouping all of ``current`` with the batch shuffled every row of the table: 2.1 s against
    1.3 s for the 1.75 M-row monthly spend of the 4 M-row lake."""
    columns = [*keys, *sums]
    batch = batch.select(*columns)
    # renamed, so that the condition cannot mistake one side's key for the other's (frames of
    # one lineage share column identities)
    batch_keys = F.broadcast(batch.select(*(F.col(k).alias(f"_batch_{k}") for k in keys))
                             .distinct())
    same_key = reduce(and_, [F.col(k).eqNullSafe(F.col(f"_batch_{k}")) for k in keys])
    kept = current.join(batch_keys, same_key, "left_anti").select(
        *keys, *(F.col(c).cast(t).alias(c) for c, t in sums.items()))
    touched = current.join(batch_keys, same_key, "left_semi").select(*columns)
    added = touched.unionByName(batch).groupBy(*keys).agg(
        *(F.sum(c).cast(t).alias(c) for c, t in sums.items()))
    return kept.unionByName(added)
