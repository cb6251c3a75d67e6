"""The benchmark harness's own logic, on synthetic timings and tiny tables (no Spark, no timing
assertions): ratios, targets, the results files, sizes, report parameters, the Delta-log
reading and the memory sampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import lakeinfo, machine, memory, queries, report, run

ROOT = Path(__file__).resolve().parents[2]


def _phases(**seconds: float) -> list[dict]:
    return [{"name": n, "start": 0.0, "end": 0.0, "seconds": s} for n, s in seconds.items()]


def _log(bronze_rows: int, silver_gates: float, gold_gates: float) -> list[dict]:
    return [
        {"step": "bronze.transactions", "duration_s": 5.0, "rows_in": bronze_rows,
         "rows_written": bronze_rows, "outcome": "ok"},
        {"step": "gate.silver.transactions", "duration_s": silver_gates, "rows_in": bronze_rows,
         "rows_written": 0, "outcome": "passed"},
        {"step": "silver.transactions", "duration_s": 20.0, "rows_in": bronze_rows,
         "rows_written": bronze_rows, "outcome": "ok"},
        {"step": "gate.gold.customer_summary", "duration_s": gold_gates, "rows_in": 0,
         "rows_written": 0, "outcome": "passed"},
        {"step": "gold.customer_summary", "duration_s": 1.0, "rows_in": 10,
         "rows_written": 10, "outcome": "ok"},
    ]


def _memory(driver: int, jvm: int, workers: int) -> dict:
    return {"driver_bytes": driver, "jvm_bytes": jvm, "workers_bytes": workers,
            "total_bytes": driver + jvm + workers,
            "total_pss_bytes": (driver + jvm + workers) // 2, "processes": 6, "samples": 10}


def _size(label: str, rows: int, b2s: float, s2g: float, csv: float, groupby: float,
          inc: float, driver: int, removed: int = 0) -> dict:
    return {
        "label": label, "errors": [],
        "generate": {"seconds": rows / 50_000, "rows": {"transactions": rows}},
        "landing": {"bytes": rows * 200, "bytes_uncompressed": rows * 250},
        "full": {"phases": _phases(spark_start=3.0, bronze_to_silver=b2s, silver_to_gold=s2g,
                                   register_catalog=0.5, workflow=b2s + s2g + 0.5),
                 "process_s": b2s + s2g + 5, "run_log": _log(rows, b2s * 0.1, s2g * 0.3),
                 "memory": _memory(driver, 2_000_000_000, 300_000_000),
                 "gates": [{"table": "silver.transactions", "expectations": 12,
                            "seconds": b2s * 0.1, "spark_jobs": 7},
                           # validated together: the call's jobs on the first
                           {"table": "gold.fraud_daily", "expectations": 9, "seconds": 0.4,
                            "spark_jobs": 5, "together": 2},
                           {"table": "gold.loan_default_features", "expectations": 7,
                            "seconds": 0.1, "spark_jobs": None, "together": 2}]},
        "baselines": {"phases": _phases(spark_start=3.0, csv_to_parquet=csv,
                                        spark_groupby=groupby, duckdb_groupby=groupby / 4),
                      "csv_to_parquet": {"transactions": {"rows": rows, "seconds": csv}}},
        "incremental": {"phases": _phases(bronze_to_silver=inc * 0.6, silver_to_gold=inc * 0.4,
                                          workflow=inc),
                        "process_s": inc + 5, "bytes_uncompressed": rows * 2.5,
                        "run_log": _log(rows // 100, 1.0, 2.0),
                        "memory": _memory(driver, 1_500_000_000, 200_000_000),
                        "files": {"silver.transactions": {
                            "version_before": 0, "version_after": 1, "commits": 1,
                            "operations": ["MERGE"], "files_added": 1,
                            "files_removed": removed, "files_total": 9}},
                        "affected": {"files": 0, "keys": rows // 100, "files_before": 8}},
    }


def _raw() -> dict:
    return {
        "harness": {"command": "python -m benchmarks.run --sizes 1M,4M", "errors": [],
                    "started_at": "2024-01-01 00:00:00 UTC", "duration_s": 1800.0},
        "machine": {"cores": 2, "ram_gb": 25.3, "python": "3.11.7", "spark": "3.5.7",
                    "load_average_at_start": "0.20 0.30 0.30",
                    "load_average_at_end": "1.50 0.50 0.40",
                    "other_work": {"timed_s": 400.0, "cpu_capacity_s": 800.0,
                                   "other_cpu_s": 120.0, "other_share": 0.15}},
        "sizes": [
            # 1M: B->S 100 s vs 60 s plain (0.6x), S->G 30 s vs 25 s (1.2x), incremental 20/130
            _size("1M", 1_000_000, 100.0, 30.0, 60.0, 25.0, 20.0, 300_000_000),
            # 4M: B->S 480 s vs 240 s (0.5x), S->G 150 s vs 90 s (1.67x: MISS), a file rewritten
            _size("4M", 4_000_000, 480.0, 150.0, 240.0, 90.0, 40.0, 420_000_000, removed=1),
        ],
        "queries": {"size": "1M", "repeats": 3, "reports": [
            {"report": "fast.sql", "params": {"top": "10"}, "rows": 10,
             "cold_s": [0.9, 1.0, 1.1], "cold_median_s": 1.0, "first_in_process_s": 0.2,
             "warm_s": [0.05, 0.05, 0.06], "warm_median_s": 0.05},
            {"report": "slow.sql", "params": {}, "rows": 3, "cold_s": [2.0, 2.1, 2.2],
             "cold_median_s": 2.1, "warm_median_s": 0.5},
            {"report": "broken.sql", "params": {}, "error": "query failed: boom"},
        ]},
        "demo": {"seconds": 95.0, "exit_code": 0},
    }


def _target(rep: dict, item: str, size: str | None) -> dict:
    return next(t for t in rep["targets"] if t["item"].startswith(item) and t["size"] == size)


def test_report_computes_ratios_and_judges_each_target():
    rep = report.build_report(_raw())
    one, four = rep["derived"]
    assert four["bronze_to_silver_vs_baseline"] == pytest.approx(0.5)
    assert one["bronze_to_silver_vs_baseline"] == pytest.approx(0.6)
    assert one["bronze_to_silver_mb_per_s"] == pytest.approx(2.5)  # 250 MB in 100 s
    assert one["baseline_csv_to_parquet_mb_per_s"] == pytest.approx(250 / 60, abs=1e-3)
    assert one["bronze_to_silver_rows_per_s"] == 10_000
    assert one["silver_to_gold_vs_spark"] == pytest.approx(1.2)
    assert one["silver_to_gold_vs_duckdb"] == pytest.approx(30 / 6.25)
    assert one["incremental_share"] == pytest.approx(20 / 130.5, abs=1e-3)
    assert one["gate_bronze_to_silver_share"] == pytest.approx(0.1)
    assert one["gate_silver_to_gold_share"] == pytest.approx(0.3)
    assert one["incremental_gate_bronze_to_silver_share"] == pytest.approx(1 / 12, abs=1e-3)

    assert _target(rep, "1. Bronze -> Silver", "1M")["status"] == report.PASS
    assert _target(rep, "2. Silver -> Gold", "1M")["status"] == report.PASS
    assert _target(rep, "2. Silver -> Gold", "4M")["status"] == report.MISS
    assert _target(rep, "3. Incremental 1% day", "1M")["status"] == report.PASS
    assert _target(rep, "3. Incremental day rewrites", "1M")["status"] == report.PASS
    assert _target(rep, "3. Incremental day rewrites", "4M")["status"] == report.MISS
    assert _target(rep, "4. Great Expectations share of Silver -> Gold", "1M")["status"] \
        == report.MISS

    scaling = rep["scaling"]
    assert scaling["rows_ratio"] == pytest.approx(4.0, abs=0.01)
    assert scaling["workflow_ratio"] == pytest.approx(630.5 / 130.5, abs=1e-3)
    assert scaling["driver_peak_ratio"] == pytest.approx(1.4)
    assert _target(rep, "5. Scaling", "4M vs 1M")["status"] == report.MISS  # 4.83x > 4.4x
    assert _target(rep, "5. Peak memory", "4M")["status"] == report.PASS
    assert _target(rep, "5. Python driver RSS", "4M vs 1M")["status"] == report.MISS
    assert _target(rep, "6. Query cold: fast.sql", "1M")["status"] == report.PASS
    assert _target(rep, "6. Query cold: slow.sql", "1M")["status"] == report.MISS
    assert _target(rep, "6. Query cold: broken.sql", "1M")["status"] == report.MISS
    assert _target(rep, "7. make demo", None)["status"] == report.PASS
    assert sum(rep["summary"].values()) == len(rep["targets"])


def test_results_files_hold_every_figure(tmp_path):
    rep = report.build_report(_raw())
    json_path, md_path = report.write_results(rep, tmp_path / "results")
    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert saved["derived"] == rep["derived"] and saved["targets"] == rep["targets"]
    text = md_path.read_text(encoding="utf-8")
    for label, key, fmt in report.FIGURES:
        assert label in text
        for derived in rep["derived"]:
            if derived[key] is not None:
                assert fmt(derived[key]) in text, (label, derived["label"])
    for target in rep["targets"]:
        assert f"| {target['item']} |" in text
        assert f"| {target['status']} |" in text
    assert "other work took 15% of the machine's CPU" in text and "120 s of 800 s" in text
    assert "| other work while the runs were timed | 15.0% of the CPU (120 s of 800 s" in text
    rep["machine"]["other_work"] = {"timed_s": 400.0, "cpu_capacity_s": 800.0,
                                    "other_cpu_s": 60.0, "other_share": 0.075}
    assert "other work took" not in report.render_markdown(rep)  # under 10%: no note
    rep["machine"]["other_work"] = None  # not measured (not Linux)
    assert "other work" not in report.render_markdown(rep)
    for needle in ("0.60x", "1.67x", "4.83x", "2.72 GB RSS (PSS 1.36 GB)", "| 2.1 s |",
                   "query failed: boom", "| ram gb | 25.3 |", "95.0 s", "gate.silver.transactions",
                   "(bronze_to_silver: outside the logged steps)", "| MERGE |",
                   "| 12 | 10.0 s | 7 |", "| 9 | 0.400 s | 5 (all 2) |", "| 7 | 0.100 s |  |"):
        assert needle in text


def test_missing_measurements_are_not_applicable():
    raw = {"harness": {"errors": ["queries: boom"]}, "machine": {},
           "sizes": [{"label": "20k", "errors": ["full load: exit code 1"], "full": {
               "error": "exit code 1"}}]}
    rep = report.build_report(raw)
    statuses = {t["item"]: t["status"] for t in rep["targets"]}
    assert set(statuses.values()) == {report.NA}
    assert rep["scaling"] is None
    text = report.render_markdown(rep)
    assert "full load: exit code 1" in text and "queries: boom" in text


def test_sizes_labels_and_customers():
    assert run.parse_sizes("4M, 1m,250k,1_000_000") == [250_000, 1_000_000, 4_000_000]
    assert [run.size_label(n) for n in (20_000, 1_000_000, 4_000_000, 1_500_000)] == \
        ["20k", "1M", "4M", "1.5M"]
    with pytest.raises(Exception, match="not a size"):
        run.parse_size("lots")
    # ~1M transactions over the default 3 months (91 days) is ~15,400 customers
    assert 15_000 < run.customers_for(1_000_000, 3) < 16_000
    assert run.customers_for(4_000_000, 3) == pytest.approx(4 * run.customers_for(1_000_000, 3),
                                                            abs=2)


def test_report_parameters_come_from_the_header_comment():
    sql = "-- Top customers.\n-- Parameters: :top (how many), :min_spend\nSELECT :top, ':x'"
    assert queries.declared_params(sql) == ["top", "min_spend"]
    assert queries.declared_params("-- no parameters here\nSELECT 1 -- Parameters: :no") == []
    values = {"top": "10"}
    assert queries.params_for(sql, values) == ({"top": "10"}, ["min_spend"])
    # every report in sql/ can be run with the values the harness knows
    known = {*queries.DEFAULT_PARAMS, "last4"}
    for file in sorted((ROOT / "sql").glob("*.sql")):
        missing = set(queries.declared_params(file.read_text(encoding="utf-8"))) - known
        assert not missing, f"{file.name}: the harness has no value for {missing}"


def test_delta_log_changes_and_affected_files(tmp_path):
    pa = pytest.importorskip("pyarrow")
    from deltalake import write_deltalake

    from lakehouse.io.lake import TableId

    lake = tmp_path / "lake"
    uri = str(lake / "silver" / "transactions")

    def batch(ids: list[str], run_id: str):
        return pa.table({"trans_id": ids, "ingest_run_id": [run_id] * len(ids)})

    write_deltalake(uri, batch(["a", "b"], "r1"))
    write_deltalake(uri, batch(["c"], "r1"), mode="append")
    before = lakeinfo.table_versions(str(lake))
    assert before == {"silver.transactions": 1}
    write_deltalake(uri, batch(["d", "e"], "r2"), mode="append")
    changes = lakeinfo.file_changes(str(lake), before)["silver.transactions"]
    assert changes["commits"] == 1 and changes["files_added"] == 1
    assert changes["files_removed"] == 0 and changes["files_total"] == 3
    affected = lakeinfo.affected_files(str(lake), TableId("silver", "transactions"),
                                       "trans_id", 1, "r2")
    assert affected == {"files": 0, "keys": 2, "files_before": 2}
    # an overwrite removes every earlier file; "b" now belongs to run r3 and sat in one file
    write_deltalake(uri, batch(["a", "b"], "r3"), mode="overwrite")
    changes = lakeinfo.file_changes(str(lake), before)["silver.transactions"]
    assert changes["commits"] == 2 and changes["files_removed"] == 3
    assert lakeinfo.affected_files(str(lake), TableId("silver", "transactions"), "trans_id",
                                   1, "r3")["files"] == 1
    assert lakeinfo.run_log(str(lake), "r1") == []  # no ops.run_log in this lake


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_memory_sampler_sees_the_driver_and_its_children():
    child = "import time; block = bytearray(60_000_000); time.sleep(1.5)"
    parent = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
              f"{child!r}]); time.sleep(1.5); p.wait()")
    process = subprocess.Popen([sys.executable, "-c", parent])
    sampler = memory.TreeSampler(process.pid, interval=0.1).start()
    process.wait(timeout=30)
    samples = sampler.stop()
    peaks = sampler.peaks()
    assert samples and peaks.samples == len(samples)
    assert peaks.driver > 5_000_000
    assert peaks.workers > 55_000_000  # the child's bytearray
    assert peaks.jvm == 0
    assert peaks.total >= max(peaks.driver, peaks.workers)
    assert 0 < peaks.pss <= peaks.total + 10_000_000 and peaks.processes >= 2
    assert sampler.peaks(start=time.time() + 60).samples == 0


_BURN = "import time\nwhile time.process_time() < {seconds}: pass"


@pytest.mark.skipif(machine.cpu_busy_seconds() is None, reason="reads /proc/stat (Linux)")
def test_cpu_of_the_timed_tree_is_not_other_work(tmp_path, monkeypatch):
    """A run's own CPU (a child burning 1 s) is the tree's, not other work; a process outside
    the tree burning CPU meanwhile is other work (whatever else the machine does meanwhile
    only adds to other work)."""
    monkeypatch.setattr(run, "OTHER_WORK", machine.OtherWork())
    parent = (f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
              f"{_BURN.format(seconds=1.0)!r}])")
    code, seconds, sampler = run.run_process([sys.executable, "-c", parent], cwd=tmp_path,
                                             env=run.subprocess_env(),
                                             log_path=tmp_path / "own.log", timeout=60,
                                             sample_interval=0.05)
    assert code == 0
    assert sampler.cpu_seconds >= 0.9  # the child's second, seen before it exited
    own = run.OTHER_WORK.as_dict()
    assert own is not None and own["timed_s"] == pytest.approx(seconds, abs=0.1)
    assert own["own_cpu_s"] >= 0.9, own
    assert own["other_cpu_s"] == pytest.approx(max(own["busy_cpu_s"] - own["own_cpu_s"], 0),
                                               abs=0.11), own

    monkeypatch.setattr(run, "OTHER_WORK", machine.OtherWork())
    outside = subprocess.Popen([sys.executable, "-c", _BURN.format(seconds=1.5)])
    try:
        code, _, _ = run.run_process([sys.executable, "-c", "import time; time.sleep(2)"],
                                     cwd=tmp_path, env=run.subprocess_env(),
                                     log_path=tmp_path / "sleep.log", timeout=60)
    finally:
        outside.wait(timeout=60)
    assert code == 0
    other = run.OTHER_WORK.as_dict()
    assert other is not None and other["other_cpu_s"] >= 1.0, other
    assert other["other_share"] == pytest.approx(
        other["other_cpu_s"] / other["cpu_capacity_s"], abs=0.05)


def test_other_work_adds_up_runs_and_is_unknown_without_proc_stat():
    work = machine.OtherWork()
    work.add(10.0, busy=12.0, ours=9.0)
    work.add(10.0, busy=5.0, ours=6.0)  # ours seen a little high: the sum still counts it
    cores = os.cpu_count() or 1
    assert work.as_dict() == {"timed_s": 20.0, "cpu_capacity_s": 20.0 * cores,
                              "busy_cpu_s": 17.0, "own_cpu_s": 15.0, "other_cpu_s": 2.0,
                              "other_share": round(2.0 / (20 * cores), 4)}
    work.add(1.0, busy=0.0, ours=5.0)
    assert work.as_dict()["other_cpu_s"] == 0.0  # never below nothing
    work.add(10.0, busy=None, ours=1.0)
    assert work.as_dict() is None


def test_a_ratio_just_over_its_limit_is_not_rounded_onto_it():
    raw = _raw()
    # a day of 26.101 s against a 130.5 s full load: 20.0008%, over the 20% limit (rounded to
    # three digits it read 0.2 and passed)
    raw["sizes"][0] = _size("1M", 1_000_000, 100.0, 30.0, 60.0, 25.0, 26.101, 300_000_000)
    rep = report.build_report(raw)
    assert rep["derived"][0]["incremental_share"] > 0.2
    day = _target(rep, "3. Incremental 1% day", "1M")
    assert (day["status"], day["measured"].split()[0]) == (report.MISS, "20.0%")
