"""The machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.memory import TICKS

REPO = Path(__file__).resolve().parents[1]
# a run is flagged when other work took at least this share of the machine's CPU meanwhile
BUSY_SHARE = 0.10


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _cpu_model() -> str | None:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_gb() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) * 1024 / 1e9, 1)
    return None


def _java() -> str | None:
    try:
        from lakehouse.runtime.java import resolve_java_home

        home = resolve_java_home()
        done = subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True,
                              text=True, timeout=30, check=False)
        first = (done.stderr or done.stdout).strip().splitlines()
        return f"{first[0] if first else '?'} ({home})"
    except Exception as exc:  # the report says why rather than failing
        return f"unknown ({exc.__class__.__name__})"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%H %cs"], cwd=REPO,
                              capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def cpu_busy_seconds() -> float | None:
    """CPU time all cores have spent on work since boot, in seconds: user, nice, system, irq,
    softirq and steal from /proc/stat (idle and iowait left out); None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


def own_cpu_seconds() -> float:
    """CPU time this process (every thread of it) has used: user + system."""
    times = os.times()
    return times.user + times.system


@dataclass
class OtherWork:
    """CPU time the machine spent on other work while the harness timed its runs: the
    machine's busy time (``cpu_busy_seconds``) during each run, less the CPU time of the run's
    process tree (as its sampler saw it) and of the harness itself. Unlike the load average,
    which only tells the last minute at one moment, this covers the whole of every timed run
    and leaves the benchmark's own processes out."""

    timed_s: float = 0.0  # wall-clock time of the timed runs
    capacity_s: float = 0.0  # the CPU time the machine had meanwhile (timed_s x cores)
    busy_s: float = 0.0  # the CPU time the machine spent on work meanwhile
    ours_s: float = 0.0  # of which the runs' trees and the harness
    measured: bool = True

    def add(self, seconds: float, busy: float | None, ours: float) -> None:
        """One run: ``busy`` the machine's busy CPU time during it (None when unknown),
        ``ours`` the harness's and the run's tree's."""
        if busy is None:
            self.measured = False
            return
        self.timed_s += seconds
        self.capacity_s += seconds * (os.cpu_count() or 1)
        self.busy_s += busy
        self.ours_s += ours

    def as_dict(self) -> dict[str, float] | None:
        if not self.measured or self.capacity_s <= 0:
            return None
        # ours errs low (a process's last moments are not seen), so other errs high, and is
        # never below nothing
        other = max(self.busy_s - self.ours_s, 0.0)
        return {"timed_s": round(self.timed_s, 1), "cpu_capacity_s": round(self.capacity_s, 1),
                "busy_cpu_s": round(self.busy_s, 1), "own_cpu_s": round(self.ours_s, 1),
                "other_cpu_s": round(other, 1), "other_share": round(other / self.capacity_s, 4)}


def load_average() -> str | None:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return None


def describe() -> dict[str, Any]:
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "cpu": _cpu_model(),
        "ram_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java(),
        "spark": _version("pyspark"),
        "deltalake": _version("deltalake"),
        "duckdb": _version("duckdb"),
        "great_expectations": _version("great-expectations"),
        "pyarrow": _version("pyarrow"),
        "commit": _commit(),
        "load_average_at_start": load_average(),
    }
