"""Medallion lakehouse for card and lending data.

``lakehouse.read_table("gold.customer_summary")`` and ``lakehouse.query("SELECT ...")`` give
pandas DataFrames; both read the lake without starting a JVM.
"""

from typing import Any

__all__ = ["query", "read_table"]


def read_table(*args: Any, **kwargs: Any) -> Any:
    from lakehouse.api import read_table as _read_table

    return _read_table(*args, **kwargs)


def query(*args: Any, **kwargs: Any) -> Any:
    from lakehouse.api import query as _query

    return _query(*args, **kwargs)


read_table.__doc__ = "A table as pandas: current, or at a version or time (lakehouse.api)."
query.__doc__ = "Athena SQL over the lake, as pandas (lakehouse.api)."
