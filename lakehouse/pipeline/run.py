"""What every pipeline run shares: its id, the lake lock, progress output and step timing."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

from lakehouse.config import AwsSettings
from lakehouse.errors import LakehouseError, LakeLockedError, QualityGateError
from lakehouse.io.lake import Lake
from lakehouse.io.landing import landing_date
from lakehouse.ops.tables import IngestedFile, RunStep
from lakehouse.quality.gates import GateResult

Progress = Callable[[str], None]


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20240131T020000Z-1a2b3c``."""
    moment = now or datetime.now(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


# --full-refresh with --from/--to: refused, the same words wherever it is caught
NOT_WITH_FULL_REFRESH = ("--full-refresh reprocesses every landing file already; it takes no "
                         "--from/--to")


@dataclass(frozen=True)
class Reprocess:
    """``lakehouse run --from D --to D``: the landing files of these days (``landing_date``,
    either end open) are processed again although earlier runs settled them: their rows are
    read again from Bronze, which holds each loaded file once, with today's configuration and
    reference data."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        if self.first is None and self.last is None:
            raise LakehouseError("reprocessing needs --from, --to or both")
        if self.first and self.last and self.first > self.last:
            raise LakehouseError(f"--from {self.first} is after --to {self.last}")

    def covers(self, relative: str) -> bool:
        day = landing_date(relative)
        return day is not None and (self.first is None or day >= self.first) and (
            self.last is None or day <= self.last)

    def describe(self) -> str:
        return f"{self.first or 'the first day'} to {self.last or 'the last day'}"


@contextlib.contextmanager
def lake_lock(lake: Lake, aws: AwsSettings | None = None,
              progress: Progress | None = None, wait_s: float = 0) -> Iterator[None]:
    """One run at a time per lake: a second run fails at once with a clear message, or, given
    ``wait_s``, waits that long for the lock first (saying so once). The run holding the lock
    owns the scratch folder: it starts by removing what killed runs left.

    A local lake is locked with ``flock`` on ``<lake>/_lock`` (released by the kernel when the
    process dies); an S3 lake with a lease object at the same place (``S3LakeLock``: a
    conditional write, renewed while the run lasts, taken over once a killed run's lease ran
    out). ``aws``: how to reach S3 (boto3's defaults when None)."""
    if wait_s < 0:
        raise LakehouseError(f"--wait must be 0 or more seconds, not {wait_s:g}")
    if not lake.is_local:
        with _object_store_lock(lake, aws, progress, wait_s):
            lake.clear_staging()
            yield
        return
    path = Path(lake.root) / "_lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
    try:

        def take() -> None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(handle)
                raise LakeLockedError(f"the lake {lake.root} is in use by {holder}; "
                                      "try again when it finishes", holder) from None

        _waiting_for(take, lake, wait_s, _LOCAL_POLL_S, progress)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        lake.clear_staging()
        yield
    finally:
        handle.close()


# How often a run waiting for the lake's lock tries again: a local lock costs nothing to try;
# an S3 one is a conditional write and a read, and leases are renewed every minute or so.
_LOCAL_POLL_S, _OBJECT_STORE_POLL_S = 0.5, 5.0


def _waiting_for(take: Callable[[], None], lake: Lake, wait_s: float, poll_s: float,
                 progress: Progress | None) -> None:
    """``take()`` the lock; while it raises ``LakeLockedError``, tries again every ``poll_s``
    for up to ``wait_s`` seconds (saying once whom it waits for), then raises the last."""
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            take()
            return
        except LakeLockedError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait_s:
                    raise LakeLockedError(f"{exc} (waited {wait_s:g} s)", exc.holder) from None
                raise
            if not said and progress is not None:
                progress(f"lock: the lake {lake.root} is in use by {exc.holder or 'another run'}"
                         f"; waiting up to {wait_s:g} s for it")
                said = True
            time.sleep(min(poll_s, left))


@contextlib.contextmanager
def _object_store_lock(lake: Lake, aws: AwsSettings | None,
                       progress: Progress | None, wait_s: float = 0) -> Iterator[None]:
    if not lake.root.startswith("s3://"):
        raise LakehouseError(f"the lake {lake.root}: only local folders and s3:// lakes can be "
                             "locked against a second run")
    from lakehouse.aws import aws_client
    from lakehouse.aws.lock import S3LakeLock

    lock = S3LakeLock(lake.root, aws_client(aws, "s3"))
    _waiting_for(lock.acquire, lake, wait_s, _OBJECT_STORE_POLL_S, progress)
    if lock.took_over and progress is not None:
        progress(f"lock: took over the lake lock of {lock.took_over}, whose lease ran out "
                 "(a run that was stopped); its scratch files are removed")
    try:
        yield
    except BaseException:
        with contextlib.suppress(LakehouseError):  # the run's own error comes first
            lock.release()
        raise
    lock.release()


# How long a run that finds the lake locked waits for the holder to name itself: the holder
# writes its pid right after taking the lock, so an empty lock file means "just taken".
_HOLDER_WAIT_S, _HOLDER_POLL_S = 1.0, 0.02


def _lock_holder(handle: IO[str]) -> str:
    """Who holds the lake's lock, as the holder wrote itself into the lock file."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        handle.seek(0)
        holder = handle.read().strip()
        if holder or time.monotonic() >= deadline:
            return holder or "another run"
        time.sleep(_HOLDER_POLL_S)


@dataclass
class RunReport:
    """What a run did, for the command line and the ops tables."""

    run_id: str
    steps: list[RunStep] = field(default_factory=list)
    files: list[IngestedFile] = field(default_factory=list)
    skipped_files: int = 0
    replayed_files: int = 0  # of ``files``: already in Bronze (held back by a gate, or a crash)
    reprocessed_files: int = 0  # of ``files``: settled before, read again from Bronze (--from)
    gates: list[GateResult] = field(default_factory=list)
    docs_path: str | None = None

    @property
    def nothing_new(self) -> bool:
        return not self.files and not self.gates

    @property
    def blocked(self) -> bool:
        return any(not gate.success for gate in self.gates)

    def raise_if_blocked(self) -> None:
        """Exit code 2 for the command line and Glue: a gate held the batch back."""
        if not self.blocked:
            return
        failures = [f for gate in self.gates for f in gate.failures]
        tables = sorted({f.table for f in failures})
        docs = f"; Data Docs: {self.docs_path}" if self.docs_path else ""
        raise QualityGateError(
            f"quality gate blocked publishing {', '.join(tables)} ({len(failures)} "
            f"expectation(s) failed; details in ops.dq_results{docs})",
            details=[f.describe() for f in failures])

    def summary(self) -> str:
        if self.nothing_new:
            return (f"run {self.run_id}: nothing new ({self.skipped_files} landing file(s) "
                    "already ingested); no table changed")
        replayed = (f", {self.replayed_files} replayed from Bronze" if self.replayed_files
                    else "") + (f", {self.reprocessed_files} reprocessed from Bronze"
                                if self.reprocessed_files else "")
        new = len(self.files) - self.replayed_files - self.reprocessed_files
        lines = [f"run {self.run_id}: {new} new file(s){replayed}, {self.skipped_files} "
                 "already ingested"]
        # names padded to the longest, so that every figure sits in one column
        width = max((len(step.step) for step in self.steps), default=0)
        for step in self.steps:
            lines.append(
                f"  {step.step:<{width}} in {step.rows_in:>8}  written {step.rows_written:>8}  "
                f"quarantined {step.rows_quarantined:>6}  duplicates {step.rows_duplicate:>5}  "
                f"{step.duration_s:6.1f}s  {step.outcome}"
                + (f" (v{step.table_version})" if step.table_version is not None else ""))
        width = max((len(gate.table) for gate in self.gates), default=0)
        for gate in self.gates:
            state = "passed" if gate.success else f"FAILED ({len(gate.failures)})"
            lines.append(f"  gate {gate.table:<{width}} {len(gate.results):>3} expectations "
                         f"{gate.seconds:6.1f}s  {state}  ({gate.engine})")
        problems = [f for f in self.files if f.note]
        for item in problems[:10]:
            lines.append(f"  note: {item.path}: {item.outcome}: {item.note}")
        if len(problems) > 10:
            lines.append(f"  ... and {len(problems) - 10} more notes in ops.ingested_files")
        return "\n".join(lines)


class StepTimer:
    """Measures one step; ``finish`` turns it into a run-log row."""

    def __init__(self, run_id: str, step: str, table: str, already: float = 0.0) -> None:
        self.run_id, self.step, self.table = run_id, step, table
        self.started_at = datetime.now(UTC)
        self._start = time.perf_counter() - already

    def finish(self, *, outcome: str = "ok", rows_in: int = 0, rows_written: int = 0,
               rows_quarantined: int = 0, rows_duplicate: int = 0, rows_inserted: int = 0,
               rows_updated: int = 0, table_version: int | None = None,
               message: str | None = None, duration_s: float | None = None) -> RunStep:
        elapsed = time.perf_counter() - self._start if duration_s is None else duration_s
        return RunStep(self.run_id, self.step, self.table, self.started_at,
                       round(elapsed, 3), outcome, rows_in,
                       rows_written, rows_quarantined, rows_duplicate, rows_inserted,
                       rows_updated, table_version, message)
