"""Fault injection for the reliability tests: a crash at a named point of a run.

``LAKEHOUSE_FAULT=<point>`` makes the process kill itself with SIGKILL the first time it reaches
``fault_point("<point>")``: no ``finally``, no ``atexit``, no flush - what a lost machine or an
out-of-memory kill does to a run. Points are step boundaries of the pipeline and the middle of a
Delta commit, e.g. ``bronze.appended:customers``, ``gold.start``,
``delta.commit:gold.fraud_daily`` (``tests/reliability/test_runs.py`` lists the ones it uses).
Unset, a point costs one comparison.
"""

from __future__ import annotations

import os
import signal

ENV = "LAKEHOUSE_FAULT"
_POINT = os.environ.get(ENV) or None  # read once, at import


def fault_point(name: str) -> None:
    """Die here, at once, if ``LAKEHOUSE_FAULT`` names this point."""
    if _POINT is not None and name == _POINT:
        os.kill(os.getpid(), signal.SIGKILL)
