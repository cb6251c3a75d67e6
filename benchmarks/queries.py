"""Query latency of the ``sql/`` reports on the local engine: cold (a fresh ``lakehouse query``
process, timed end to end from Python start to exit) and warm (the same query again through one
``LocalEngine`` in this process)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "sql"
# Values for the reports' named parameters; last4 is found in the lake (see card_last4).
DEFAULT_PARAMS = {"top": "10", "min_transactions": "1"}
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def declared_params(sql: str) -> list[str]:
    """The parameters a report declares in its leading ``-- Parameters:`` comment."""
    for line in sql.splitlines():
        text = line.strip()
        if not text.startswith("--"):
            if text:
                break  # the header comment is over
            continue
        _, found, rest = text.partition("Parameters:")
        if found:
            return list(dict.fromkeys(_PARAM.findall(rest)))
    return []


def card_last4(lake_root: str) -> str | None:
    """The last four digits of the busiest masked card in ``silver.transactions``."""
    from lakehouse.engines.local import LocalEngine
    from lakehouse.io.lake import Lake

    engine = LocalEngine(Lake.at(lake_root))
    _, rows = engine.rows("SELECT card_masked, count(*) AS n FROM silver.transactions "
                          "WHERE card_masked IS NOT NULL GROUP BY card_masked "
                          "ORDER BY n DESC, card_masked LIMIT 1")
    return str(rows[0][0])[-4:] if rows else None


def params_for(sql: str, values: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The values for a report's declared parameters, and the names that have none."""
    names = declared_params(sql)
    return ({n: values[n] for n in names if n in values}, [n for n in names if n not in values])


def lakehouse_command() -> list[str]:
    """The console script next to this interpreter (what an analyst runs), else ``-m``."""
    script = Path(sys.executable).with_name("lakehouse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lakehouse.cli"]


def _cold(file: Path, lake_root: str, params: Mapping[str, str], env: Mapping[str, str],
          cwd: str, timeout: float) -> tuple[float, int, str | None]:
    command = [*lakehouse_command(), "query", str(file), "--lake", lake_root, "--format", "csv"]
    for name, value in params.items():
        command += ["--param", f"{name}={value}"]
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(env), cwd=cwd,
                          timeout=timeout, check=False)
    seconds = time.perf_counter() - clock
    if done.returncode != 0:
        return seconds, 0, (done.stderr.strip().splitlines() or ["exit code "
                                                                  f"{done.returncode}"])[-1]
    return seconds, max(0, len(done.stdout.splitlines()) - 1), None


def measure(lake_root: str, *, env: Mapping[str, str], cwd: str, repeats: int = 3,
            files: list[Path] | None = None, timeout: float = 120.0,
            progress: Any = print) -> dict[str, Any]:
    """Every report: ``repeats`` cold runs and ``repeats`` warm runs (after a first in-process
    run that creates the engine's views); medians and raw timings."""
    from lakehouse.engines.local import LocalEngine
    from lakehouse.io.lake import Lake

    values = dict(DEFAULT_PARAMS)
    last4 = card_last4(lake_root)
    if last4:
        values["last4"] = last4
    engine = LocalEngine(Lake.at(lake_root))
    reports = []
    for file in files or sorted(SQL_DIR.glob("*.sql")):
        sql = file.read_text(encoding="utf-8")
        params, missing = params_for(sql, values)
        item: dict[str, Any] = {"report": file.name, "params": params}
        if missing:
            item["error"] = f"no value for parameter(s) {', '.join(missing)}"
            reports.append(item)
            continue
        cold, errors, rows = [], [], 0
        for _ in range(repeats):
            seconds, rows, error = _cold(file, lake_root, params, env, cwd, timeout)
            cold.append(round(seconds, 3))
            if error:
                errors.append(error)
        item.update(cold_s=cold, cold_median_s=round(statistics.median(cold), 3), rows=rows)
        try:
            clock = time.perf_counter()
            engine.rows(sql, params)
            item["first_in_process_s"] = round(time.perf_counter() - clock, 3)
            warm = []
            for _ in range(repeats):
                clock = time.perf_counter()
                engine.rows(sql, params)
                warm.append(round(time.perf_counter() - clock, 3))
            item.update(warm_s=warm, warm_median_s=round(statistics.median(warm), 3))
        except Exception as exc:  # a failing report is a result, not a crash of the harness
            errors.append(f"in process: {exc}")
        if errors:
            item["error"] = errors[0]
        progress(f"  {file.name}: cold {item['cold_median_s']:.2f}s"
                 + (f", warm {item['warm_median_s']:.3f}s" if "warm_median_s" in item else "")
                 + (f"  ERROR {item['error']}" if "error" in item else ""))
        reports.append(item)
    return {"lake": lake_root, "repeats": repeats, "params": values, "reports": reports}
