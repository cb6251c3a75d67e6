"""silver.loans: one row per loan per snapshot date (natural key ``loan_id, as_of_date``)."""

from __future__ import annotations

from pyspark.sql import types as T

from lakehouse.silver.entity import Entity

COLUMNS = T.StructType([
    T.StructField("loan_id", T.StringType()),
    T.StructField("as_of_date", T.DateType()),
    T.StructField("customer_id", T.StringType()),
    T.StructField("product", T.StringType()),
    T.StructField("principal", T.DecimalType(14, 2)),
    T.StructField("interest_rate", T.DecimalType(7, 5)),
    T.StructField("term_months", T.IntegerType()),
    T.StructField("origination_date", T.DateType()),
    T.StructField("status", T.StringType()),
    T.StructField("days_past_due", T.IntegerType()),
    T.StructField("outstanding_balance", T.DecimalType(14, 2)),
])

ENTITY = Entity(
    name="loans",
    key=("loan_id", "as_of_date"),
    required_fields=("loan_id", "as_of_date", "customer_id", "status"),
    columns=COLUMNS,
    description="Loan snapshots: one row per loan and snapshot date.",
)
