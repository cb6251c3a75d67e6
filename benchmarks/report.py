"""From raw measurements to figures, ratios and the issue's targets; written as JSON and Markdown.

``build_report(raw)`` keeps the raw measurements and adds ``derived`` (per size), ``scaling``
(largest vs smallest size) and ``targets`` (each with measured value, limit and PASS / MISS,
or n/a when the figure could not be measured). ``render_markdown`` prints every figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.machine import BUSY_SHARE

MB = 1_000_000
GB = 1_000_000_000

# The targets of issue #7 on a 2-core machine.
B2S_MIN_RATIO = 0.5          # Bronze -> Silver throughput vs plain Spark CSV -> Parquet
B2S_AIM_RATIO = 0.7
S2G_MAX_RATIO = 1.5          # Silver -> Gold time vs plain Spark group-by
INCREMENTAL_MAX_SHARE = 0.20  # incremental 1% day vs full load
GATE_MAX_SHARE = 0.20        # Great Expectations time in a step
SCALING_MAX_FACTOR = 1.1     # time ratio <= 1.1 x size ratio (4.4x for 4x the rows)
PEAK_MEMORY_MAX = 6 * GB     # driver + JVM + Python workers at the largest size
DRIVER_GROWTH_MAX = 1.25     # driver RSS peak, largest size vs smallest ("does not grow")
QUERY_COLD_MAX_S = 1.5
DEMO_MAX_S = 120.0

PASS, MISS, NA = "PASS", "MISS", "n/a"


# -- small helpers -------------------------------------------------------------------------------

def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(a: float | None, b: float | None) -> float | None:
    """A ratio that a target is checked against: kept to 6 digits, so that a value over its
    limit is not rounded onto it (49.96 s / 249.79 s = 0.20001 read as 0.2, a pass)."""
    return _round(_div(a, b), 6)


def phase_seconds(result: Mapping[str, Any] | None, name: str) -> float | None:
    """Total seconds of the phases called ``name`` in a worker's result."""
    if not result or "phases" not in result:
        return None
    found = [p["seconds"] for p in result["phases"] if p["name"] == name]
    return round(sum(found), 3) if found else None


def gate_seconds(run_log: Iterable[Mapping[str, Any]], layer: str) -> float:
    """Seconds spent in the quality gates of one layer (run-log steps ``gate.<layer>.*``)."""
    return round(sum(float(r.get("duration_s") or 0) for r in run_log
                     if str(r.get("step", "")).startswith(f"gate.{layer}.")), 3)


def bronze_rows(run_log: Iterable[Mapping[str, Any]]) -> int:
    """Rows loaded into Bronze by a run: every landing row it read."""
    return sum(int(r.get("rows_written") or 0) for r in run_log
               if str(r.get("step", "")).startswith("bronze."))


def status(value: float | None, limit: float, *, at_least: bool = False) -> str:
    if value is None:
        return NA
    return PASS if (value >= limit if at_least else value <= limit) else MISS


def fmt_s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} s" if value < 1 else f"{value:.1f} s"


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / GB:.2f} GB" if value >= GB else f"{value / MB:.0f} MB"


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


# -- per size ------------------------------------------------------------------------------------

def _memory(part: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((part or {}).get("memory") or {})


def derive_size(size: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure of one size from its raw measurements (None where one is missing)."""
    full = size.get("full") or {}
    base = size.get("baselines") or {}
    inc = size.get("incremental") or {}
    landing = size.get("landing") or {}
    log = full.get("run_log") or []
    inc_log = inc.get("run_log") or []

    b2s = phase_seconds(full, "bronze_to_silver")
    s2g = phase_seconds(full, "silver_to_gold")
    workflow = phase_seconds(full, "workflow")
    mb = _div(landing.get("bytes_uncompressed"), MB)
    rows = bronze_rows(log) if log else None
    csv_s = phase_seconds(base, "csv_to_parquet")
    base_rows = (sum(s.get("rows", 0) for s in base["csv_to_parquet"].values())
                 if isinstance(base.get("csv_to_parquet"), Mapping) else None)
    spark_gb = phase_seconds(base, "spark_groupby")
    duck = phase_seconds(base, "duckdb_groupby")
    gate_b2s = gate_seconds(log, "silver") if log else None
    gate_s2g = gate_seconds(log, "gold") if log else None

    inc_b2s = phase_seconds(inc, "bronze_to_silver")
    inc_s2g = phase_seconds(inc, "silver_to_gold")
    inc_workflow = phase_seconds(inc, "workflow")
    tx_files = (inc.get("files") or {}).get("silver.transactions") or {}
    affected = inc.get("affected") or {}
    inc_gate_b2s = gate_seconds(inc_log, "silver") if inc_log else None
    inc_gate_s2g = gate_seconds(inc_log, "gold") if inc_log else None
    full_mem, inc_mem = _memory(full), _memory(inc)

    driver_peaks = [int(m["driver_bytes"]) for m in (full_mem, inc_mem) if m.get("driver_bytes")]
    return {
        "label": size.get("label"),
        "transactions_generated": (size.get("generate") or {}).get("rows", {})
        .get("transactions"),
        "landing_rows": rows,
        "landing_mb": _round(mb),
        "landing_mb_on_disk": _round(_div(landing.get("bytes"), MB)),
        "generate_s": (size.get("generate") or {}).get("seconds"),
        "generate_rows_per_s": _round(_div(
            sum((size.get("generate") or {}).get("rows", {}).values()) or None,
            (size.get("generate") or {}).get("seconds")), 0),
        "spark_start_s": phase_seconds(full, "spark_start"),
        "jit_full": full.get("jit"),
        "jit_incremental": inc.get("jit"),
        "process_s": full.get("process_s"),
        "workflow_s": workflow,
        "bronze_to_silver_s": b2s,
        "bronze_to_silver_mb_per_s": _round(_div(mb, b2s)),
        "bronze_to_silver_rows_per_s": _round(_div(rows, b2s), 0),
        "baseline_csv_to_parquet_s": csv_s,
        "baseline_csv_to_parquet_mb_per_s": _round(_div(mb, csv_s)),
        "baseline_csv_to_parquet_rows_per_s": _round(_div(base_rows, csv_s), 0),
        "bronze_to_silver_vs_baseline": _ratio(csv_s, b2s),
        "silver_to_gold_s": s2g,
        "baseline_spark_groupby_s": spark_gb,
        "baseline_duckdb_groupby_s": duck,
        "silver_to_gold_vs_spark": _ratio(s2g, spark_gb),
        "silver_to_gold_vs_duckdb": _round(_div(s2g, duck)),
        "duckdb_vs_spark": _round(_div(duck, spark_gb)),
        "register_catalog_s": phase_seconds(full, "register_catalog"),
        "gate_bronze_to_silver_s": gate_b2s,
        "gate_bronze_to_silver_share": _ratio(gate_b2s, b2s),
        "gate_silver_to_gold_s": gate_s2g,
        "gate_silver_to_gold_share": _ratio(gate_s2g, s2g),
        "incremental_rows": bronze_rows(inc_log) if inc_log else None,
        "incremental_mb": _round(_div(inc.get("bytes_uncompressed"), MB)),
        "incremental_workflow_s": inc_workflow,
        "incremental_process_s": inc.get("process_s"),
        "incremental_bronze_to_silver_s": inc_b2s,
        "incremental_silver_to_gold_s": inc_s2g,
        "incremental_share": _ratio(inc_workflow, workflow),
        "incremental_gate_bronze_to_silver_share": _ratio(inc_gate_b2s, inc_b2s),
        "incremental_gate_silver_to_gold_share": _ratio(inc_gate_s2g, inc_s2g),
        "incremental_silver_files_added": tx_files.get("files_added"),
        "incremental_silver_files_removed": tx_files.get("files_removed"),
        "incremental_silver_files_total": tx_files.get("files_total"),
        "incremental_silver_files_affected": affected.get("files"),
        "incremental_silver_keys_merged": affected.get("keys"),
        "peak_driver_bytes": full_mem.get("driver_bytes"),
        "peak_jvm_bytes": full_mem.get("jvm_bytes"),
        "peak_workers_bytes": full_mem.get("workers_bytes"),
        "peak_total_bytes": full_mem.get("total_bytes"),
        "peak_total_pss_bytes": full_mem.get("total_pss_bytes"),
        "peak_processes": full_mem.get("processes"),
        "incremental_peak_driver_bytes": inc_mem.get("driver_bytes"),
        "incremental_peak_total_bytes": inc_mem.get("total_bytes"),
        "peak_driver_any_bytes": max(driver_peaks) if driver_peaks else None,
    }


def derive_scaling(derived: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Largest size vs smallest (by landing rows): time ratios against the size ratio."""
    sized = [d for d in derived if d.get("landing_rows")]
    if len(sized) < 2:
        return None
    small = min(sized, key=lambda d: d["landing_rows"])
    large = max(sized, key=lambda d: d["landing_rows"])
    rows_ratio = large["landing_rows"] / small["landing_rows"]
    scaling: dict[str, Any] = {"small": small["label"], "large": large["label"],
                               "rows_ratio": round(rows_ratio, 3),
                               "time_limit_ratio": round(SCALING_MAX_FACTOR * rows_ratio, 3)}
    for key in ("workflow_s", "bronze_to_silver_s", "silver_to_gold_s",
                "incremental_workflow_s"):
        scaling[key.removesuffix("_s") + "_ratio"] = _ratio(large.get(key), small.get(key))
    scaling["driver_peak_ratio"] = _ratio(large.get("peak_driver_any_bytes"),
                                          small.get("peak_driver_any_bytes"))
    scaling["large_peak_total_bytes"] = large.get("peak_total_bytes")
    scaling["large_peak_total_pss_bytes"] = large.get("peak_total_pss_bytes")
    return scaling


# -- targets -------------------------------------------------------------------------------------

def _target(item: str, size: str | None, measured: str, target: str, state: str,
            value: float | None, limit: float) -> dict[str, Any]:
    return {"item": item, "size": size, "measured": measured, "target": target,
            "status": state, "value": value, "limit": limit}


def evaluate_targets(derived: Sequence[Mapping[str, Any]], scaling: Mapping[str, Any] | None,
                     queries: Mapping[str, Any] | None,
                     demo: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    targets = []
    for d in derived:
        label = d.get("label")
        ratio = d.get("bronze_to_silver_vs_baseline")
        targets.append(_target(
            "1. Bronze -> Silver throughput vs plain Spark CSV -> Parquet", label,
            f"{fmt_x(ratio)} ({fmt_num(d.get('bronze_to_silver_mb_per_s'), 2)} vs "
            f"{fmt_num(d.get('baseline_csv_to_parquet_mb_per_s'), 2)} MB/s)",
            f">= {B2S_MIN_RATIO}x (aim {B2S_AIM_RATIO}x)",
            status(ratio, B2S_MIN_RATIO, at_least=True), ratio, B2S_MIN_RATIO))
        ratio = d.get("silver_to_gold_vs_spark")
        targets.append(_target(
            "2. Silver -> Gold time vs plain Spark group-by", label,
            f"{fmt_x(ratio)} ({fmt_s(d.get('silver_to_gold_s'))} vs "
            f"{fmt_s(d.get('baseline_spark_groupby_s'))})",
            f"<= {S2G_MAX_RATIO}x", status(ratio, S2G_MAX_RATIO), ratio, S2G_MAX_RATIO))
        share = d.get("incremental_share")
        targets.append(_target(
            "3. Incremental 1% day vs full load", label,
            f"{fmt_pct(share)} ({fmt_s(d.get('incremental_workflow_s'))} vs "
            f"{fmt_s(d.get('workflow_s'))})",
            f"<= {INCREMENTAL_MAX_SHARE:.0%}", status(share, INCREMENTAL_MAX_SHARE), share,
            INCREMENTAL_MAX_SHARE))
        removed, affected = (d.get("incremental_silver_files_removed"),
                             d.get("incremental_silver_files_affected"))
        excess = None if removed is None or affected is None else removed - affected
        targets.append(_target(
            "3. Incremental day rewrites only affected silver.transactions files", label,
            f"{fmt_num(removed)} rewritten, {fmt_num(affected)} held a merged key, "
            f"{fmt_num(d.get('incremental_silver_files_added'))} added, "
            f"{fmt_num(d.get('incremental_silver_files_total'))} in the table",
            "rewritten <= affected", status(excess, 0), excess, 0))
        for key, what in (("gate_bronze_to_silver_share", "Bronze -> Silver"),
                          ("gate_silver_to_gold_share", "Silver -> Gold"),
                          ("incremental_gate_bronze_to_silver_share",
                           "Bronze -> Silver, incremental day"),
                          ("incremental_gate_silver_to_gold_share",
                           "Silver -> Gold, incremental day")):
            share = d.get(key)
            targets.append(_target(f"4. Great Expectations share of {what}", label,
                                   fmt_pct(share), f"<= {GATE_MAX_SHARE:.0%}",
                                   status(share, GATE_MAX_SHARE), share, GATE_MAX_SHARE))
    if scaling is not None:
        pair = f"{scaling['large']} vs {scaling['small']}"
        limit = scaling["time_limit_ratio"]
        ratio = scaling.get("workflow_ratio")
        targets.append(_target(
            "5. Scaling: full-load time ratio", pair,
            f"{fmt_x(ratio)} for {fmt_x(scaling['rows_ratio'])} the rows",
            f"<= {fmt_x(limit)} ({SCALING_MAX_FACTOR} x the row ratio)",
            status(ratio, limit), ratio, limit))
        peak = scaling.get("large_peak_total_bytes")
        targets.append(_target(
            "5. Peak memory (driver + JVM + Python workers)", scaling["large"],
            f"{fmt_bytes(peak)} RSS (PSS {fmt_bytes(scaling.get('large_peak_total_pss_bytes'))})",
            f"<= {fmt_bytes(PEAK_MEMORY_MAX)}", status(peak, PEAK_MEMORY_MAX), peak,
            PEAK_MEMORY_MAX))
        ratio = scaling.get("driver_peak_ratio")
        targets.append(_target(
            "5. Python driver RSS does not grow with table size", pair, fmt_x(ratio),
            f"<= {DRIVER_GROWTH_MAX}x", status(ratio, DRIVER_GROWTH_MAX), ratio,
            DRIVER_GROWTH_MAX))
    else:
        targets.append(_target("5. Scaling (needs two sizes)", None, "n/a", "<= 4.4x", NA,
                               None, 0))
    if queries and queries.get("reports"):
        for item in queries["reports"]:
            cold = item.get("cold_median_s")
            state = MISS if item.get("error") else status(cold, QUERY_COLD_MAX_S)
            targets.append(_target(
                f"6. Query cold: {item['report']}", queries.get("size"),
                fmt_s(cold) + (f" (error: {item['error']})" if item.get("error") else ""),
                f"<= {QUERY_COLD_MAX_S} s", state, cold, QUERY_COLD_MAX_S))
    else:
        targets.append(_target("6. Query latency (not measured)", None, "n/a",
                               f"<= {QUERY_COLD_MAX_S} s", NA, None, QUERY_COLD_MAX_S))
    seconds = (demo or {}).get("seconds")
    failed = bool(demo and demo.get("exit_code"))
    targets.append(_target(
        "7. make demo (default sample)", None,
        fmt_s(seconds) + (f" (exit code {demo['exit_code']})" if failed and demo else ""),
        f"< {DEMO_MAX_S:.0f} s", MISS if failed else status(seconds, DEMO_MAX_S), seconds,
        DEMO_MAX_S))
    return targets


def build_report(raw: Mapping[str, Any]) -> dict[str, Any]:
    derived = [derive_size(s) for s in raw.get("sizes", [])]
    scaling = derive_scaling(derived)
    targets = evaluate_targets(derived, scaling, raw.get("queries"), raw.get("demo"))
    report = dict(raw)
    report.update(derived=derived, scaling=scaling, targets=targets,
                  summary={s: sum(1 for t in targets if t["status"] == s)
                           for s in (PASS, MISS, NA)})
    return report


# -- Markdown ------------------------------------------------------------------------------------

def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


# (label, key, formatter) of the per-size figures table
FIGURES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("transactions generated", "transactions_generated", fmt_num),
    ("landing rows loaded, all sources (full load)", "landing_rows", fmt_num),
    ("landing data, uncompressed (MB)", "landing_mb", lambda v: fmt_num(v, 1)),
    ("landing data on disk (MB)", "landing_mb_on_disk", lambda v: fmt_num(v, 1)),
    ("generation time", "generate_s", fmt_s),
    ("generation speed (rows/s)", "generate_rows_per_s", fmt_num),
    ("Spark session start", "spark_start_s", fmt_s),
    ("JVM compilers, full load (spark.jit: auto)", "jit_full", lambda v: v or "n/a"),
    ("JVM compilers, incremental day", "jit_incremental", lambda v: v or "n/a"),
    ("full load: whole process (Python start to exit)", "process_s", fmt_s),
    ("full load: workflow (all steps)", "workflow_s", fmt_s),
    ("Bronze -> Silver time", "bronze_to_silver_s", fmt_s),
    ("Bronze -> Silver MB/s", "bronze_to_silver_mb_per_s", lambda v: fmt_num(v, 2)),
    ("Bronze -> Silver rows/s", "bronze_to_silver_rows_per_s", fmt_num),
    ("baseline: Spark CSV/JSON -> Parquet time", "baseline_csv_to_parquet_s", fmt_s),
    ("baseline: Spark CSV/JSON -> Parquet MB/s", "baseline_csv_to_parquet_mb_per_s",
     lambda v: fmt_num(v, 2)),
    ("baseline: Spark CSV/JSON -> Parquet rows/s", "baseline_csv_to_parquet_rows_per_s",
     fmt_num),
    ("Bronze -> Silver throughput / baseline", "bronze_to_silver_vs_baseline", fmt_x),
    ("Silver -> Gold time", "silver_to_gold_s", fmt_s),
    ("baseline: Spark group-by time", "baseline_spark_groupby_s", fmt_s),
    ("baseline: DuckDB group-by time", "baseline_duckdb_groupby_s", fmt_s),
    ("Silver -> Gold / Spark group-by", "silver_to_gold_vs_spark", fmt_x),
    ("Silver -> Gold / DuckDB group-by", "silver_to_gold_vs_duckdb", fmt_x),
    ("DuckDB / Spark group-by", "duckdb_vs_spark", fmt_x),
    ("catalog registration time", "register_catalog_s", fmt_s),
    ("gates in Bronze -> Silver", "gate_bronze_to_silver_s", fmt_s),
    ("gates' share of Bronze -> Silver", "gate_bronze_to_silver_share", fmt_pct),
    ("gates in Silver -> Gold", "gate_silver_to_gold_s", fmt_s),
    ("gates' share of Silver -> Gold", "gate_silver_to_gold_share", fmt_pct),
    ("incremental day: landing rows", "incremental_rows", fmt_num),
    ("incremental day: landing data, uncompressed (MB)", "incremental_mb",
     lambda v: fmt_num(v, 2)),
    ("incremental day: whole process", "incremental_process_s", fmt_s),
    ("incremental day: workflow", "incremental_workflow_s", fmt_s),
    ("incremental day: Bronze -> Silver", "incremental_bronze_to_silver_s", fmt_s),
    ("incremental day: Silver -> Gold", "incremental_silver_to_gold_s", fmt_s),
    ("incremental day / full load (workflow)", "incremental_share", fmt_pct),
    ("incremental day: gates' share of Bronze -> Silver",
     "incremental_gate_bronze_to_silver_share", fmt_pct),
    ("incremental day: gates' share of Silver -> Gold",
     "incremental_gate_silver_to_gold_share", fmt_pct),
    ("incremental day: silver.transactions keys merged", "incremental_silver_keys_merged",
     fmt_num),
    ("incremental day: silver.transactions files added", "incremental_silver_files_added",
     fmt_num),
    ("incremental day: silver.transactions files rewritten (removed)",
     "incremental_silver_files_removed", fmt_num),
    ("incremental day: silver.transactions files holding a merged key",
     "incremental_silver_files_affected", fmt_num),
    ("incremental day: silver.transactions files after", "incremental_silver_files_total",
     fmt_num),
    ("peak RSS, full load: Python driver", "peak_driver_bytes", fmt_bytes),
    ("peak RSS, full load: JVM", "peak_jvm_bytes", fmt_bytes),
    ("peak RSS, full load: Python workers", "peak_workers_bytes", fmt_bytes),
    ("peak RSS, full load: total (at one moment)", "peak_total_bytes", fmt_bytes),
    ("peak PSS, full load: total (shared pages divided)", "peak_total_pss_bytes", fmt_bytes),
    ("processes in the tree at most, full load", "peak_processes", fmt_num),
    ("peak RSS, incremental day: Python driver", "incremental_peak_driver_bytes", fmt_bytes),
    ("peak RSS, incremental day: total", "incremental_peak_total_bytes", fmt_bytes),
]


def _machine_lines(machine: Mapping[str, Any]) -> list[str]:
    rows = [(k.replace("_", " "), v) for k, v in machine.items() if k != "other_work"]
    other = machine.get("other_work")
    if other:
        rows.append(("other work while the runs were timed",
                     f"{other['other_share']:.1%} of the CPU ({other['other_cpu_s']:.0f} s of "
                     f"{other['cpu_capacity_s']:.0f} s over {fmt_s(other['timed_s'])})"))
    return _table(("machine", ""), rows)


def _step_rows(size: Mapping[str, Any], part: str) -> list[tuple[Any, ...]]:
    """The run log of one run, plus what each workflow step spent outside its logged steps."""
    run = size.get(part) or {}
    log = run.get("run_log") or []
    rows: list[tuple[Any, ...]] = [
        (r["step"], fmt_s(r.get("duration_s")), fmt_num(r.get("rows_in")),
         fmt_num(r.get("rows_written")), r.get("outcome")) for r in log]
    for phase, prefixes in (("bronze_to_silver", ("bronze.", "silver.", "gate.silver.")),
                            ("silver_to_gold", ("gold.", "gate.gold."))):
        total = phase_seconds(run, phase)
        if total is None:
            continue
        logged = sum(float(r.get("duration_s") or 0) for r in log
                     if str(r.get("step", "")).startswith(prefixes))
        rows.append((f"({phase}: outside the logged steps)", fmt_s(max(0.0, total - logged)),
                     "", "", ""))
    return rows


PHASE_HEADERS = ("phase", "time", "Spark jobs")
MEMORY_HEADERS = ("peak RSS driver", "JVM", "Python workers", "total", "peak PSS total",
                  "processes")


def _phase_rows(run: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Each phase of a worker: time, Spark jobs, and (when sampled) peak memory while it ran."""
    memory = run.get("phase_memory")
    rows = []
    for phase in run.get("phases") or []:
        row: tuple[Any, ...] = (phase["name"], fmt_s(phase.get("seconds")),
                                fmt_num(phase.get("spark_jobs")))
        if memory is not None:
            peaks = memory.get(phase["name"]) or {}
            row += (fmt_bytes(peaks.get("driver_bytes")), fmt_bytes(peaks.get("jvm_bytes")),
                    fmt_bytes(peaks.get("workers_bytes")), fmt_bytes(peaks.get("total_bytes")),
                    fmt_bytes(peaks.get("total_pss_bytes")), fmt_num(peaks.get("processes")))
        rows.append(row)
    return rows


def busy_note(machine: Mapping[str, Any]) -> str | None:
    """A warning when other work took a share of the machine's CPU (``BUSY_SHARE`` or more)
    while the harness timed its runs (``machine.OtherWork``)."""
    other = machine.get("other_work") or {}
    share = other.get("other_share")
    if share is None or share < BUSY_SHARE:
        return None
    return (f"**Note:** other work took {share:.0%} of the machine's CPU while the runs were "
            f"timed ({other['other_cpu_s']:.0f} s of {other['cpu_capacity_s']:.0f} s: "
            f"the machine's busy time less the benchmark's own processes): times are "
            f"inflated, fixed costs most.")


def _gate_rows(run: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    def jobs(gate: Mapping[str, Any]) -> str:
        together = gate.get("together")
        if not together:
            return fmt_num(gate.get("spark_jobs"))
        # gates validated together: the call's jobs, on its first gate
        return (f"{fmt_num(gate.get('spark_jobs'))} (all {together})"
                if gate.get("spark_jobs") is not None else "")

    return [(g["table"], g.get("engine") or "spark", fmt_num(g.get("rows")),
             fmt_num(g.get("expectations")), fmt_s(g.get("seconds")), jobs(g))
            for g in run.get("gates") or []]


def render_markdown(report: Mapping[str, Any]) -> str:
    harness = report.get("harness") or {}
    derived = report.get("derived") or []
    sizes = report.get("sizes") or []
    out = ["# Benchmark results", ""]
    out.append(f"Run {harness.get('started_at', '?')} - {harness.get('finished_at', '?')} "
               f"({fmt_s(harness.get('duration_s'))}), `{harness.get('command', '')}`.")
    summary = report.get("summary") or {}
    out.append(f"Targets: {summary.get(PASS, 0)} PASS, {summary.get(MISS, 0)} MISS, "
               f"{summary.get(NA, 0)} n/a. Definitions: `benchmarks/README.md`.")
    note = busy_note(report.get("machine") or {})
    if note:
        out += ["", note]
    errors = [f"{s.get('label')}: {e}" for s in sizes for e in s.get("errors", [])]
    errors += list(harness.get("errors") or [])
    if errors:
        out += ["", "**Errors during the run:**", ""] + [f"- {e}" for e in errors]
    out += ["", "## Machine", ""] + _machine_lines(report.get("machine") or {})

    out += ["", "## Targets (issue #7)", ""]
    out += _table(("target", "size", "measured", "limit", "status"),
                  [(t["item"], t["size"] or "", t["measured"], t["target"], t["status"])
                   for t in report.get("targets") or []])

    if derived:
        out += ["", "## Figures per size", ""]
        out += _table(["figure", *[str(d.get("label")) for d in derived]],
                      [[label, *[fmt(d.get(key)) for d in derived]]
                       for label, key, fmt in FIGURES])
    scaling = report.get("scaling")
    if scaling:
        out += ["", f"## Scaling: {scaling['large']} vs {scaling['small']}", ""]
        out += _table(("ratio", "value"), [
            ("landing rows", fmt_x(scaling.get("rows_ratio"))),
            ("time limit (1.1 x rows)", fmt_x(scaling.get("time_limit_ratio"))),
            ("full-load workflow time", fmt_x(scaling.get("workflow_ratio"))),
            ("Bronze -> Silver time", fmt_x(scaling.get("bronze_to_silver_ratio"))),
            ("Silver -> Gold time", fmt_x(scaling.get("silver_to_gold_ratio"))),
            ("incremental day time", fmt_x(scaling.get("incremental_workflow_ratio"))),
            ("Python driver peak RSS", fmt_x(scaling.get("driver_peak_ratio"))),
        ])
    for size in sizes:
        label = size.get("label")
        for part, title in (("full", "full load"), ("incremental", "incremental day"),
                            ("baselines", "references")):
            run = size.get(part) or {}
            phases = _phase_rows(run)
            if phases:
                out += ["", f"## Where the time goes: {label}, {title}", ""]
                headers = PHASE_HEADERS + (MEMORY_HEADERS if len(phases[0]) > 3 else ())
                out += _table(headers, phases)
            rows = _step_rows(size, part) if part != "baselines" else []
            if rows:
                out += ["", "Steps, from `ops.run_log`:", ""]
                out += _table(("step", "time", "rows in", "rows written", "outcome"), rows)
            gates = _gate_rows(run)
            if gates:
                out += ["", "Quality gates, as timed around each `QualityGates.validate`; Gold's "
                        "are validated together (`validate_all`: each one's batch is fetched "
                        "while the one before is checked), each timed from the end of the one "
                        "before:", ""]
                out += _table(("table", "engine", "rows", "expectations", "time",
                               "Spark jobs"), gates)
        files = (size.get("incremental") or {}).get("files") or {}
        if files:
            out += ["", f"## Incremental day: Delta commits per table ({label})", ""]
            out += _table(("table", "versions", "commits", "operations", "files added",
                           "files removed", "files now"),
                          [(t, f"{c.get('version_before')} -> {c.get('version_after')}",
                            c["commits"], ", ".join(str(o) for o in c["operations"]),
                            c["files_added"], c["files_removed"], c["files_total"])
                           for t, c in files.items() if c["commits"]])
    queries = report.get("queries")
    if queries and queries.get("reports"):
        out += ["", f"## Query latency ({queries.get('size')} lake, local engine)", ""]
        out.append(f"Cold: a fresh `lakehouse query FILE` process, median of "
                   f"{queries.get('repeats')}; warm: the same query again through one "
                   "`LocalEngine`, median of as many runs after a first one.")
        out.append("")
        out += _table(("report", "params", "rows", "cold", "cold runs", "first in-process",
                       "warm", "status"),
                      [(q["report"], " ".join(f"{k}={v}" for k, v in q.get("params",
                                                                          {}).items()),
                        fmt_num(q.get("rows")), fmt_s(q.get("cold_median_s")),
                        ", ".join(f"{v:.2f}" for v in q.get("cold_s", [])),
                        fmt_s(q.get("first_in_process_s")), fmt_s(q.get("warm_median_s")),
                        MISS if q.get("error") else status(q.get("cold_median_s"),
                                                           QUERY_COLD_MAX_S))
                       for q in queries["reports"]])
        failed = [q for q in queries["reports"] if q.get("error")]
        for q in failed:
            out.append(f"- {q['report']}: {q['error']}")
    demo = report.get("demo")
    if demo:
        out += ["", "## make demo", ""]
        out.append(f"`lakehouse demo` (default sample) in a fresh process: "
                   f"{fmt_s(demo.get('seconds'))}, exit code {demo.get('exit_code')}.")
    return "\n".join(out) + "\n"


def write_results(report: Mapping[str, Any], out_dir: Path, name: str = "latest") -> list[Path]:
    """``<name>.json`` (everything) and ``<name>.md`` (the tables) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return [json_path, md_path]
