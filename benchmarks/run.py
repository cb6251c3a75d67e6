"""The benchmark harness (``make bench``): generate landing data at each size, run the real
pipeline and its references in fresh processes, and write ``benchmarks/results/latest.{json,md}``.

Per size, in a work folder (a temporary one unless ``--workdir``):

1. ``lakehouse.generate`` writes customers, daily transactions and loans for ``--months``
   months, with as many customers as give about the requested number of transactions;
   the last day's transactions file is held back for step 4.
2. Full load: one worker process runs ``run_workflow`` (Bronze -> Silver -> Gold -> catalog),
   each step timed; the harness samples the RSS of the worker (the Python driver), its JVM and
   Spark's Python workers every ``--interval`` seconds; the run's ``ops.run_log`` rows give the
   time spent in quality gates.
3. References, in another fresh process with the same Spark configuration: plain Spark reading
   the same landing files and writing Parquet; a plain Spark group-by over the Silver
   transactions files; DuckDB doing the same group-by over the same files.
4. Incremental day: the held-back day is landed and the workflow runs again (fresh process,
   sampled); the Delta log says which files each table's new commits added and removed, and
   DuckDB which of the existing Silver files held a key that run merged.

Then, on the smallest size's lake: every ``sql/`` report cold (a fresh ``lakehouse query``
process) and warm (again through one ``LocalEngine``). Last, ``lakehouse demo`` on its default
sample in a fresh process.

The exit code is 0 when every figure was measured (whatever the targets say), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from benchmarks import lakeinfo, machine, queries
from benchmarks.memory import INTERVAL, TreeSampler
from benchmarks.report import build_report, fmt_s, write_results
from lakehouse.runtime.class_archive import ENV as CLASS_ARCHIVE_ENV

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_SIZES = "1M,4M"
# Transactions the generator makes per customer and day (measured: 1,000 customers over 91 days
# made 64,996; card-only holders add 10%, 0.3-1 purchases a day each, plus fraud).
TXN_PER_CUSTOMER_DAY = 0.714
# A benchmark-only tokenization key, so that no key file is needed and runs are comparable.
BENCH_TOKEN_KEY = "benchmark-only-tokenization-key-not-a-secret"
START = date(2024, 1, 1)


class Log:
    """Progress lines on stderr with the time since the harness started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr,
              flush=True)


# -- sizes ---------------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    """``1M``, ``4m``, ``250k``, ``20000`` or ``1_000_000`` -> a number of transactions."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 20k, 1M, 4000000)")
    value = float(match.group(1).replace("_", "")) * {"": 1, "k": 1_000, "m": 1_000_000}[
        match.group(2).lower()]
    if value < 1000:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (at least 1000)")
    return int(value)


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def size_label(transactions: int) -> str:
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if transactions >= unit:
            value = transactions / unit
            return f"{value:g}{suffix}" if value == round(value, 1) else f"{value:.2f}{suffix}"
    return str(transactions)


def days_in(months: int, start: date = START) -> int:
    from lakehouse.generate.dates import add_months

    return (add_months(start, months) - start).days


def customers_for(transactions: int, months: int) -> int:
    """How many customers give about ``transactions`` transactions over ``months`` months."""
    return max(1, round(transactions / (TXN_PER_CUSTOMER_DAY * days_in(months))))


# -- landing files -------------------------------------------------------------------------------

def uncompressed_size(path: Path) -> int:
    if path.suffix != ".gz":
        return path.stat().st_size
    total = 0
    with gzip.open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            total += len(block)
    return total


def landing_stats(landing: Path) -> dict[str, Any]:
    by_source: dict[str, dict[str, int]] = {}
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        source = path.relative_to(landing).parts[0]
        entry = by_source.setdefault(source, {"files": 0, "bytes": 0, "bytes_uncompressed": 0})
        entry["files"] += 1
        entry["bytes"] += path.stat().st_size
        entry["bytes_uncompressed"] += uncompressed_size(path)
    return {"files": sum(e["files"] for e in by_source.values()),
            "bytes": sum(e["bytes"] for e in by_source.values()),
            "bytes_uncompressed": sum(e["bytes_uncompressed"] for e in by_source.values()),
            "by_source": by_source}


def last_transactions_file(landing: Path) -> Path:
    """The latest day's transactions file (the generator names them by date)."""
    files = sorted((p for p in (landing / "transactions").rglob("transactions_*") if p.is_file()),
                   key=lambda p: p.name)
    if not files:
        raise RuntimeError(f"no transactions files under {landing}")
    return files[-1]


# -- worker processes ----------------------------------------------------------------------------

def subprocess_env(*, token_key: bool = True) -> dict[str, str]:
    """The caller's environment without any LAKEHOUSE_* variable but the class archive's
    (``LAKEHOUSE_CLASS_ARCHIVE=off`` measures without it), the benchmark key, and the
    repository on PYTHONPATH (for ``benchmarks.worker``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LAKEHOUSE_") or k == CLASS_ARCHIVE_ENV}
    if token_key:
        env["LAKEHOUSE_TOKEN_KEY"] = BENCH_TOKEN_KEY
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("GX_ANALYTICS_ENABLED", "False")
    return env


# the CPU time other work took while this harness timed its runs (for the report's note)
OTHER_WORK = machine.OtherWork()


def run_process(command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path,
                timeout: float, sample_interval: float | None = None
                ) -> tuple[int | None, float, TreeSampler]:
    """Run a command in its own process group; (exit code or None on timeout, seconds,
    the sampler of its tree, every ``sample_interval`` seconds). What else the machine did
    meanwhile is added to ``OTHER_WORK``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        busy, own = machine.cpu_busy_seconds(), machine.own_cpu_seconds()
        clock = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(process.pid, sample_interval or INTERVAL).start()
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            code = None
        except BaseException:  # interrupted: take the worker (and its JVM) down too
            _kill_group(process)
            sampler.stop()
            raise
        seconds = time.perf_counter() - clock
        sampler.stop()
        busy_after = machine.cpu_busy_seconds()
        OTHER_WORK.add(seconds, None if busy is None or busy_after is None else busy_after - busy,
                       machine.own_cpu_seconds() - own + sampler.cpu_seconds)
    return code, round(seconds, 3), sampler


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill the process group this harness started for ``process`` (and nothing else)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_worker(task: str, options: list[str], *, root: Path, name: str, timeout: float,
               sample_interval: float | None) -> dict[str, Any]:
    result_path = root / "results" / f"{name}-{uuid.uuid4().hex[:6]}.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = root / "logs" / f"{name}.log"
    command = [sys.executable, "-m", "benchmarks.worker", task, *options,
               "--result", str(result_path)]
    code, seconds, sampler = run_process(command, cwd=root, env=subprocess_env(),
                                         log_path=log_path, timeout=timeout,
                                         sample_interval=sample_interval)
    if result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    else:
        result = {"error": ("timed out after " + fmt_s(timeout)) if code is None else
                  f"exit code {code} without a result"}
    result.update(process_s=seconds, exit_code=code, log=str(log_path))
    if code is None:
        result["error"] = f"timed out after {fmt_s(timeout)}"
    if sample_interval is not None:
        result["memory"] = sampler.peaks().as_dict()
        result["phase_memory"] = {p["name"]: sampler.peaks(p["start"], p["end"]).as_dict()
                                  for p in result.get("phases", [])}
    return result


# -- one size ------------------------------------------------------------------------------------

def new_size(transactions: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    label = size_label(transactions)
    return {"label": label, "target_transactions": transactions,
            "customers": customers_for(transactions, args.months), "months": args.months,
            "seed": args.seed, "defect_rate": args.defect_rate, "root": str(workdir / label),
            "errors": []}


def measure_size(size: dict[str, Any], args: argparse.Namespace, log: Log) -> None:
    """Fills ``size`` (from ``new_size``) as the measurements come in."""
    from lakehouse.generate import generate

    label, customers, root = size["label"], size["customers"], Path(size["root"])
    if root.exists():
        shutil.rmtree(root)
    landing, lake, held = root / "landing", root / "lake", root / "incoming"

    log(f"{label}: generating {customers} customers x {args.months} months")
    clock = time.perf_counter()
    summary = generate(landing, customers=customers, months=args.months, seed=args.seed,
                       defect_rate=args.defect_rate, start=START)
    size["generate"] = {"seconds": round(time.perf_counter() - clock, 3),
                        "rows": dict(summary.rows), "files": dict(summary.files)}
    log(f"{label}: generated {summary.rows} in {size['generate']['seconds']:.1f}s")

    day = last_transactions_file(landing)
    relative = day.relative_to(landing)
    (held / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(day, held / relative)
    size["landing"] = landing_stats(landing)
    size["incremental_file"] = str(relative)

    common = ["--lake", str(lake), "--landing", str(landing)]
    worker = {"root": root, "timeout": args.timeout}
    log(f"{label}: full load ({size['landing']['bytes_uncompressed'] / 1e6:.1f} MB)")
    full = run_worker("pipeline", common, name="full", sample_interval=args.interval, **worker)
    size["full"] = full
    if full.get("error") or full.get("blocked"):
        size["errors"].append(f"full load: {full.get('error') or 'a quality gate blocked it'}"
                              f" (log {full['log']})")
        return
    full["run_log"] = lakeinfo.run_log(str(lake), full["run_id"])
    log(f"{label}: full load took {fmt_s(full['process_s'])} "
        f"(workflow {fmt_s(_phase(full, 'workflow'))})")
    versions = lakeinfo.table_versions(str(lake))

    if not args.skip_baselines:
        log(f"{label}: baselines (Spark CSV -> Parquet, Spark and DuckDB group-by)")
        base = run_worker("baselines", [*common, "--scratch", str(root / "scratch")],
                          name="baselines", sample_interval=None, **worker)
        size["baselines"] = base
        if base.get("error"):
            size["errors"].append(f"baselines: {base['error']} (log {base['log']})")
        else:
            log(f"{label}: baselines took {fmt_s(base['process_s'])}")
        shutil.rmtree(root / "scratch", ignore_errors=True)

    shutil.move(held / relative, landing / relative)
    now = time.time()
    os.utime(landing / relative, (now, now))  # landed now
    log(f"{label}: incremental day {relative}")
    inc = run_worker("pipeline", common, name="incremental", sample_interval=args.interval,
                     **worker)
    inc["bytes"] = (landing / relative).stat().st_size
    inc["bytes_uncompressed"] = uncompressed_size(landing / relative)
    size["incremental"] = inc
    if inc.get("error") or inc.get("blocked"):
        size["errors"].append(f"incremental day: {inc.get('error') or 'a gate blocked it'} "
                              f"(log {inc['log']})")
        return
    inc["run_log"] = lakeinfo.run_log(str(lake), inc["run_id"])
    inc["files"] = lakeinfo.file_changes(str(lake), versions)
    if "silver.transactions" in versions:
        from lakehouse.io.lake import TableId

        inc["affected"] = lakeinfo.affected_files(
            str(lake), TableId("silver", "transactions"), "trans_id",
            versions["silver.transactions"], inc["run_id"])
    log(f"{label}: incremental day took {fmt_s(inc['process_s'])} "
        f"(workflow {fmt_s(_phase(inc, 'workflow'))})")


def _phase(result: dict[str, Any], name: str) -> float | None:
    found = [p["seconds"] for p in result.get("phases", []) if p["name"] == name]
    return sum(found) if found else None


def prepare_class_archive(workdir: Path, timeout: float, log: Log) -> str:
    """The JVM class archive every timed run maps (``lakehouse.runtime.class_archive``), in
    place before the first one: written by a demo run when there is none yet, so that no timed
    run writes it (at its JVM's exit) or goes without it while later ones map it. Returns what
    the report says about it."""
    from lakehouse.runtime import class_archive
    from lakehouse.runtime.java import resolve_java_home
    from lakehouse.runtime.spark import LOCAL_CONF

    archives = class_archive.archives_for(
        resolve_java_home(), LOCAL_CONF["spark.driver.extraJavaOptions"],
        subprocess_env())
    if isinstance(archives, str):
        return f"none ({archives})"
    archive = archives.wait(timeout=120)
    if archive is None:
        log("writing the JVM class archive (an untimed demo run)")
        warmup = measure_demo(workdir / "class-archive", timeout)
        archive = archives.wait(timeout=120)
        if archive is None:
            return f"none (the demo run did not write one; log {warmup['log']})"
    return f"{archive} ({archive.stat().st_size / 1e6:.0f} MB), mapped by every timed run"


def measure_demo(workdir: Path, timeout: float) -> dict[str, Any]:
    """``lakehouse demo`` as ``make demo`` runs it: default sample, ./landing and ./lake in a
    fresh folder, no tokenization key configured."""
    root = workdir / "demo"
    root.mkdir(parents=True, exist_ok=True)
    code, seconds, _ = run_process([*queries.lakehouse_command(), "demo"], cwd=root,
                                   env=subprocess_env(token_key=False),
                                   log_path=root / "demo.log", timeout=timeout)
    return {"seconds": seconds, "exit_code": code, "log": str(root / "demo.log")}


# -- main ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the lakehouse pipeline against plain Spark and DuckDB "
                    "(issue #7); writes <out>/<name>.json and <out>/<name>.md.")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"transactions per size, comma-separated (default {DEFAULT_SIZES};"
                             " e.g. 20k,80k for a quick run)")
    parser.add_argument("--months", type=int, default=3,
                        help="months of data (default 3: one day is about 1%% of the rows)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.02,
                        help="share of landing rows with a defect (default 0.02, as lakehouse "
                             "generate)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results folder (default benchmarks/results)")
    parser.add_argument("--name", default="latest", help="results file name (default latest)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where data and lakes go (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (landing data, lakes, logs)")
    parser.add_argument("--query-repeats", type=int, default=3,
                        help="cold and warm runs per report (default 3)")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--interval", type=float, default=INTERVAL,
                        help="seconds between memory samples (default 0.2)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds before a worker process (or the demo) is killed "
                             "(default 1800); bounds the run")
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    global OTHER_WORK
    args = build_parser().parse_args(argv)
    OTHER_WORK = machine.OtherWork()
    signal.signal(signal.SIGTERM, _terminate)
    log = Log()
    started = datetime.now(UTC)
    clock = time.perf_counter()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"work folder {workdir}; sizes {', '.join(size_label(s) for s in args.sizes)}")
    raw: dict[str, Any] = {
        "harness": {"command": "python -m benchmarks.run " + " ".join(
            argv if argv is not None else sys.argv[1:]),
            "started_at": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "options": {k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items()},
            "errors": []},
        "machine": machine.describe(),
        "sizes": [],
    }
    raw["machine"]["jvm_class_archive"] = prepare_class_archive(workdir, args.timeout, log)
    try:
        for transactions in args.sizes:
            size = new_size(transactions, args, workdir)
            raw["sizes"].append(size)
            size_clock = time.perf_counter()
            try:
                measure_size(size, args, log)
            except Exception as exc:  # record it, carry on with the next size
                size["errors"].append(f"{exc.__class__.__name__}: {exc}")
                log(f"{size['label']}: {size['errors'][-1]}")
            size["seconds"] = round(time.perf_counter() - size_clock, 1)
            rest = [s for s in args.sizes if s > transactions]
            if rest and not size["errors"]:
                guess = size["seconds"] * sum(rest) / transactions / 60
                log(f"{size['label']} took {size['seconds'] / 60:.1f} min; the remaining "
                    f"size(s) at most about {guess:.0f} min if time grows with rows")
            lake = Path(size["root"]) / "lake"
            if transactions == args.sizes[0] and not args.skip_queries and lake.is_dir():
                log(f"{size['label']}: query latency of sql/*.sql")
                try:
                    result = queries.measure(str(lake), env=subprocess_env(),
                                             cwd=str(workdir), repeats=args.query_repeats,
                                             progress=log)
                    raw["queries"] = {"size": size["label"], **result}
                except Exception as exc:
                    raw["harness"]["errors"].append(f"queries: {exc.__class__.__name__}: {exc}")
            if not args.keep and not size["errors"]:
                shutil.rmtree(size["root"], ignore_errors=True)  # kept for a look on errors
        if not args.skip_demo:
            log("lakehouse demo (default sample)")
            raw["demo"] = measure_demo(workdir, args.timeout)
            log(f"demo took {fmt_s(raw['demo']['seconds'])} "
                f"(exit code {raw['demo']['exit_code']})")
    finally:
        raw["machine"]["load_average_at_end"] = machine.load_average()
        raw["machine"]["other_work"] = OTHER_WORK.as_dict()
        raw["harness"]["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raw["harness"]["duration_s"] = round(time.perf_counter() - clock, 1)
        raw["harness"]["workdir"] = str(workdir)
        report = build_report(raw)
        paths = write_results(report, args.out, args.name)
        if not args.keep and args.workdir is None and not _failed(raw):
            shutil.rmtree(workdir, ignore_errors=True)
        log(f"wrote {', '.join(str(p) for p in paths)}: {report['summary']}")
    if _failed(raw):
        log(f"some figures could not be measured; logs are kept in {workdir}")
        return 1
    return 0


def _failed(raw: dict[str, Any]) -> bool:
    return (bool(raw["harness"]["errors"]) or any(s.get("errors") for s in raw["sizes"])
            or bool((raw.get("demo") or {}).get("exit_code")))


if __name__ == "__main__":
    sys.exit(main())
