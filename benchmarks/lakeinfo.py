"""What the harness reads back from a lake, without Spark: table versions, the files each
commit added and removed (from the Delta log), the run log of a run, and which Silver files
held the keys an incremental run merged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lakehouse.io.lake import Lake, TableId


def scalar(db: Any, sql: str) -> Any:
    """The single value a DuckDB query answers (an aggregate always returns one row)."""
    row = db.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from: {sql}")
    return row[0]


def table_versions(lake_root: str) -> dict[str, int]:
    """Every table of the lake and its current version."""
    from deltalake import DeltaTable

    lake = Lake.at(lake_root)
    return {str(t): DeltaTable(lake.uri(t)).version() for t in lake.list_tables()}


def commit_actions(table_uri: str, version: int) -> dict[str, Any]:
    """The add and remove actions of one commit, read from ``_delta_log/<version>.json``."""
    path = Path(table_uri) / "_delta_log" / f"{version:020d}.json"
    added: list[str] = []
    removed: list[str] = []
    operation = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "add" in action:
            added.append(unquote(action["add"]["path"]))
        elif "remove" in action:
            removed.append(unquote(action["remove"]["path"]))
        elif "commitInfo" in action:
            operation = action["commitInfo"].get("operation")
    return {"version": version, "operation": operation, "added": added, "removed": removed}


def file_changes(lake_root: str, before: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per table, what the commits after ``before`` (table -> version) did: commits, files
    added and removed, and the files of the current version. Tables created since count
    from version 0."""
    from deltalake import DeltaTable

    lake = Lake.at(lake_root)
    changes: dict[str, dict[str, Any]] = {}
    for table in lake.list_tables():
        uri = lake.uri(table)
        current = DeltaTable(uri).version()
        first = before.get(str(table), -1) + 1
        commits = [commit_actions(uri, v) for v in range(first, current + 1)]
        changes[str(table)] = {
            "version_before": before.get(str(table)), "version_after": current,
            "commits": len(commits),
            "operations": [c["operation"] for c in commits],
            "files_added": sum(len(c["added"]) for c in commits),
            "files_removed": sum(len(c["removed"]) for c in commits),
            "files_total": len(DeltaTable(uri).file_uris()),
        }
    return changes


def run_log(lake_root: str, run_id: str) -> list[dict[str, Any]]:
    """The ``ops.run_log`` rows of one run, in the order they were written."""
    from deltalake import DeltaTable

    lake = Lake.at(lake_root)
    table = TableId("ops", "run_log")
    uri = lake.uri(table)
    if not Path(uri, "_delta_log").is_dir():
        return []
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    chosen = [r for r in rows if r.get("run_id") == run_id]
    chosen.sort(key=lambda r: (r["started_at"] is None, r["started_at"]))
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
            for r in chosen]


def affected_files(lake_root: str, table: TableId, key: str, version_before: int,
                   run_id: str) -> dict[str, int]:
    """How many files of ``table`` at ``version_before`` held a key that the run ``run_id``
    wrote (inserted or updated: its rows carry ``ingest_run_id = run_id``): the files a merge
    had to rewrite, at least. Also the number of such keys."""
    import duckdb
    from deltalake import DeltaTable

    uri = Lake.at(lake_root).uri(table)
    before = list(DeltaTable(uri, version=version_before).file_uris())
    after = list(DeltaTable(uri).file_uris())
    if not before or not after:
        return {"files": 0, "keys": 0, "files_before": len(before)}

    def listed(files: list[str]) -> str:
        return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"

    db = duckdb.connect()
    db.execute(f"CREATE TEMP TABLE run_keys AS SELECT DISTINCT {key} AS k FROM "
               f"read_parquet({listed(after)}) WHERE ingest_run_id = ?", [run_id])
    keys = scalar(db, "SELECT count(*) FROM run_keys")
    files = scalar(db, f"SELECT count(DISTINCT filename) FROM read_parquet({listed(before)}, "
                       f"filename = true) WHERE {key} IN (SELECT k FROM run_keys)")
    db.close()
    return {"files": int(files), "keys": int(keys), "files_before": len(before)}
