"""The short, readable report ``lakehouse demo`` ends with: what landed, what was rejected and
why, and what the Gold tables say."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Settings
from lakehouse.formatting import aligned
from lakehouse.io.delta import DeltaIO, delta_io
from lakehouse.io.lake import TableId
from lakehouse.runtime.spark import get_spark
from lakehouse.silver.rules import REASON_DESCRIPTIONS


def _section(title: str, rows: list[tuple], headers: tuple[str, ...]) -> list[str]:
    return [f"\n{title}", aligned(rows, headers)] if rows else []


def _read(delta: DeltaIO, name: str) -> DataFrame | None:
    table = TableId.parse(name)
    return delta.read(table) if delta.exists(table) else None


def demo_report(settings: Settings, docs_path: str | None = None) -> str:
    """Table sizes, quarantine reasons, top customers, fraud, rewards and loan defaults."""
    lake = settings.lake()
    delta = delta_io(get_spark(settings.spark), lake)
    parts: list[str] = []
    sizes = [(str(t), delta.version(t), delta.read(t).count()) for t in lake.list_tables()
             if t.layer != "bronze"]
    parts += _section(f"Tables in {lake.root}:", sizes, ("table", "version", "rows"))

    reasons = []
    for table in lake.list_tables():
        if table.name.endswith("_quarantine"):
            for row in (delta.read(table).select(F.explode("reasons").alias("reason"))
                        .groupBy("reason").count().orderBy(F.desc("count"), "reason")
                        .collect()):
                reasons.append((str(table), row["reason"], row["count"],
                                REASON_DESCRIPTIONS.get(row["reason"], "")))
    parts += _section("Why rows were quarantined:", reasons,
                      ("table", "reason", "rows", "meaning"))

    summary = _read(delta, "gold.customer_summary")
    if summary is not None:
        top = (summary.orderBy(F.desc("total_spend"), "customer_key").limit(5)
               .select("customer_key", "txn_count", "total_spend", "top_category",
                       "rfm_segment").collect())
        parts += _section("Top customers by spend (gold.customer_summary):",
                          [(r.customer_key[:24], r.txn_count, f"{r.total_spend:,.2f}",
                            r.top_category, r.rfm_segment) for r in top],
                          ("customer", "transactions", "spend", "top category", "segment"))
        leaders = (summary.orderBy(F.desc("reward_points"), "customer_key").limit(5)
                   .select("customer_key", "reward_points").collect())
        parts += _section("Reward points leaderboard:",
                          [(r.customer_key[:24], f"{r.reward_points:,}") for r in leaders],
                          ("customer", "points"))
    fraud = _read(delta, "gold.fraud_daily")
    if fraud is not None:
        rates = (fraud.groupBy("category")
                 .agg(F.sum("txn_count").alias("n"), F.sum("fraud_count").alias("fraud"))
                 .withColumn("rate", F.col("fraud") / F.col("n"))
                 .orderBy(F.desc("rate"), "category").limit(6).collect())
        parts += _section("Fraud rate by category (gold.fraud_daily):",
                          [(r.category, r.n, r.fraud, f"{r.rate:.2%}") for r in rates],
                          ("category", "transactions", "fraud", "fraud rate"))
    loans = _read(delta, "gold.loan_default_features")
    if loans is not None:
        rows = (loans.groupBy("product")
                .agg(F.count("*").alias("n"), F.sum(F.col("defaulted").cast("int")).alias("d"))
                .orderBy("product").collect())
        parts += _section("Loan defaults by product (gold.loan_default_features):",
                          [(r.product, r.n, r.d, f"{r.d / r.n:.1%}") for r in rows],
                          ("product", "loans", "defaulted", "default rate"))
    if docs_path:
        parts.append(f"\nData quality results (Great Expectations Data Docs): {docs_path}")
    return "\n".join(parts)
