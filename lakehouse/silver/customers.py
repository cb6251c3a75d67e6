"""silver.customers (current state) and silver.customers_history (SCD type 2)."""

from __future__ import annotations

from pyspark.sql import types as T

from lakehouse.silver.entity import Entity

COLUMNS = T.StructType([
    T.StructField("customer_id", T.StringType()),
    T.StructField("updated_at", T.TimestampType()),
    T.StructField("card_token", T.StringType()),
    T.StructField("card_masked", T.StringType()),
    T.StructField("gender", T.StringType()),
    T.StructField("birth_year", T.IntegerType()),
    T.StructField("city", T.StringType()),
    T.StructField("state", T.StringType()),
    T.StructField("zip", T.StringType()),
    T.StructField("job", T.StringType()),
    T.StructField("annual_income", T.DecimalType(14, 2)),
    T.StructField("credit_score", T.IntegerType()),
])

# Each record is a version keyed by (customer_id, updated_at): silver.customers_history keeps
# them all with validity intervals, silver.customers the current one per customer.
ENTITY = Entity(
    name="customers",
    key=("customer_id", "updated_at"),
    required_fields=("customer_id", "updated_at"),
    columns=COLUMNS,
    current_key=("customer_id",),
    description="Customer master data, current state (one row per customer).",
)
