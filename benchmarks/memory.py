"""Peak memory of a process tree: the Python driver, its JVM and Spark's Python workers.

A background thread reads ``/proc`` every ``interval`` seconds (Linux only) and keeps, per
sample, the resident set size (RSS) of the root process (the driver), of every ``java``
process below it (the JVM that pyspark starts), and of everything else below it (pyspark's
Python daemon and workers, and any shell in between). RSS counts shared pages in every process
that maps them (pyspark's workers are forks of one daemon), so the sum of RSS is an upper bound;
each sample also keeps the sum of PSS (proportional set size: shared pages divided among the
processes sharing them), the tree's actual share of memory, and the number of processes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc's unit of CPU time
KINDS = ("driver", "jvm", "workers")
INTERVAL = 0.2  # seconds between samples, unless told otherwise


@dataclass(frozen=True)
class Sample:
    """One reading, in bytes; ``at`` is wall-clock time (``time.time()``)."""

    at: float
    driver: int
    jvm: int
    workers: int
    pss: int = 0
    processes: int = 0

    @property
    def total(self) -> int:
        return self.driver + self.jvm + self.workers


def proc_stats() -> dict[int, tuple[int, float]]:
    """Every process's parent and the CPU time it has used so far (user + system, seconds),
    from /proc/<pid>/stat."""
    stats: dict[int, tuple[int, float]] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return stats
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                text = handle.read()
        except OSError:
            continue  # exited meanwhile
        # the command name may hold spaces and parentheses: fields follow the last ')';
        # after it come state, ppid, ... and utime, stime as the 12th and 13th
        rest = text[text.rfind(b")") + 2:].split()
        if len(rest) > 12:
            stats[int(entry.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / TICKS)
    return stats


def _ppids(stats: dict[int, tuple[int, float]] | None = None) -> dict[int, int]:
    """Every process's parent (from ``proc_stats``, read now when not given)."""
    return {pid: ppid for pid, (ppid, _) in (proc_stats() if stats is None else stats).items()}


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every process below ``root`` (not ``root`` itself)."""
    parents = _ppids() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss(pid: int) -> int:
    """Resident set size in bytes (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid: int) -> int:
    """Proportional set size in bytes, from /proc/<pid>/smaps_rollup (0 when unavailable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def command_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def read_tree(root: int, parents: dict[int, int] | None = None) -> Sample:
    """One sample of the tree under ``root``."""
    totals = dict.fromkeys(KINDS, 0)
    totals["driver"] = rss(root)
    proportional = pss(root)
    below = descendants(root, parents)
    for pid in below:
        kind = "jvm" if command_name(pid).startswith("java") else "workers"
        totals[kind] += rss(pid)
        proportional += pss(pid)
    return Sample(time.time(), totals["driver"], totals["jvm"], totals["workers"], proportional,
                  1 + len(below))


@dataclass
class Peaks:
    """The highest readings (bytes) among some samples; each kind's own peak, and the peak of
    their sum at one moment."""

    driver: int = 0
    jvm: int = 0
    workers: int = 0
    total: int = 0
    pss: int = 0
    processes: int = 0
    samples: int = 0

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Peaks:
        if not samples:
            return cls()
        return cls(max(s.driver for s in samples), max(s.jvm for s in samples),
                   max(s.workers for s in samples), max(s.total for s in samples),
                   max(s.pss for s in samples), max(s.processes for s in samples),
                   len(samples))

    def as_dict(self) -> dict[str, int | None]:
        """Bytes (None without samples: the phase was shorter than the interval)."""
        if not self.samples:
            return {"driver_bytes": None, "jvm_bytes": None, "workers_bytes": None,
                    "total_bytes": None, "total_pss_bytes": None, "processes": None,
                    "samples": 0}
        return {"driver_bytes": self.driver, "jvm_bytes": self.jvm,
                "workers_bytes": self.workers, "total_bytes": self.total,
                "total_pss_bytes": self.pss or None, "processes": self.processes,
                "samples": self.samples}


@dataclass
class TreeSampler:
    """Samples a process tree in a background thread until stopped: its memory
    (``samples``), and the CPU time each of its processes had used when last seen (``cpu``;
    a process's last interval before it exits is missed)."""

    root: int
    interval: float = INTERVAL
    samples: list[Sample] = field(default_factory=list)
    cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, name=f"rss-{self.root}", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            stats = proc_stats()
            parents = _ppids(stats)
            for pid in (self.root, *descendants(self.root, parents)):
                if pid in stats:
                    self.cpu[pid] = stats[pid][1]
            sample = read_tree(self.root, parents)
            if sample.driver:  # the root has not exited yet
                self.samples.append(sample)
            self._stop.wait(self.interval)

    @property
    def cpu_seconds(self) -> float:
        """CPU time the tree used, as far as seen (user + system, every process)."""
        return sum(self.cpu.values())

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples

    def peaks(self, start: float | None = None, end: float | None = None) -> Peaks:
        """Peaks over the samples taken between two wall-clock times (all by default)."""
        chosen = [s for s in self.samples
                  if (start is None or s.at >= start) and (end is None or s.at <= end)]
        return Peaks.of(chosen)
