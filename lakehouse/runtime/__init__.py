"""Where the code runs: Java discovery and the one Spark session factory (local or Glue)."""

from lakehouse.runtime.spark import get_spark, stop_spark

__all__ = ["get_spark", "stop_spark"]
