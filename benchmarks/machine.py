"""The machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


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


def load_average() -> str | None:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return None


def describe() -> dict[str, Any]:
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
