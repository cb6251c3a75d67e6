"""silver.transactions: one row per card transaction (natural key ``trans_id``)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.silver.entity import Entity

COLUMNS = T.StructType([
    T.StructField("trans_id", T.StringType()),
    T.StructField("trans_ts", T.TimestampType()),
    T.StructField("trans_date", T.DateType()),
    T.StructField("card_token", T.StringType()),
    T.StructField("card_masked", T.StringType()),
    T.StructField("merchant", T.StringType()),
    T.StructField("category", T.StringType()),
    T.StructField("amount", T.DecimalType(12, 2)),
    T.StructField("is_fraud", T.BooleanType()),
    T.StructField("gender", T.StringType()),
    T.StructField("city", T.StringType()),
    T.StructField("state", T.StringType()),
    T.StructField("zip", T.StringType()),
    T.StructField("lat", T.DoubleType()),
    T.StructField("lng", T.DoubleType()),
    T.StructField("city_pop", T.LongType()),
    T.StructField("job", T.StringType()),
    T.StructField("birth_year", T.IntegerType()),
    T.StructField("merch_lat", T.DoubleType()),
    T.StructField("merch_lng", T.DoubleType()),
])


def with_trans_date(df: DataFrame) -> DataFrame:
    """The transaction's calendar day in UTC (the reporting day)."""
    return df.withColumn("trans_date", F.to_date("trans_ts"))


ENTITY = Entity(
    name="transactions",
    key=("trans_id",),
    required_fields=("trans_id", "trans_ts", "card_token", "category", "amount", "is_fraud"),
    columns=COLUMNS,
    derive=with_trans_date,
    description="Card transactions: typed, validated, de-duplicated, card number tokenized.",
)
