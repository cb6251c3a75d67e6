"""The short, readable report ``lakehouse demo`` ends with."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.io.delta import delta_io
from lakehouse.io.lake import Lake, TableId
from lakehouse.runtime.spark import get_spark


def _table(rows: list[tuple], headers: tuple[str, ...]) -> str:
    cells = [headers, *[tuple("" if v is None else str(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
             for row in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def silver_report(settings: Settings) -> str:
    """Table sizes, why rows were quarantined, and a first look at the clean data."""
    lake = Lake.at(settings.lake_root)
    delta = delta_io(get_spark(settings.spark), lake)
    sizes = []
    for table in lake.list_tables():
        if table.layer in ("silver", "ops"):
            sizes.append((str(table), delta.version(table), delta.read(table).count()))
    parts = [f"\nTables in {lake.root}:", _table(sizes, ("table", "version", "rows"))]

    reasons = []
    for table in lake.list_tables():
        if table.name.endswith("_quarantine"):
            for row in (delta.read(table).select(F.explode("reasons").alias("reason"))
                        .groupBy("reason").count().orderBy(F.desc("count")).collect()):
                reasons.append((str(table), row["reason"], row["count"]))
    if reasons:
        parts += ["\nWhy rows were quarantined:", _table(reasons, ("table", "reason", "rows"))]

    transactions = TableId("silver", "transactions")
    if delta.exists(transactions):
        top = (delta.read(transactions).groupBy("category")
               .agg(F.count("*").alias("n"), F.sum("amount").alias("spend"),
                    F.avg(F.col("is_fraud").cast("int")).alias("fraud_rate"))
               .orderBy(F.desc("spend")).limit(5).collect())
        parts += ["\nTop categories by spend (silver.transactions):",
                  _table([(r["category"], r["n"], f"{r['spend']:,.2f}",
                           f"{r['fraud_rate']:.2%}") for r in top],
                         ("category", "transactions", "spend", "fraud rate"))]
        sample = delta.read(transactions).select("trans_id", "card_masked", "card_token",
                                                 "amount").limit(3).collect()
        parts += ["\nCard numbers are stored only as keyed tokens and masked forms:",
                  _table([(r["trans_id"], r["card_masked"], r["card_token"][:16] + "...",
                           r["amount"]) for r in sample],
                         ("trans_id", "card_masked", "card_token", "amount"))]
    return "\n".join(parts)
