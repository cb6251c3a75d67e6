"""Lakes for integration tests: built by the whole workflow from a generated sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lakehouse.config import Settings, load_settings
from lakehouse.generate import generate
from lakehouse.io.lake import Lake, TableId
from lakehouse.pipeline.run import RunReport
from lakehouse.pipeline.workflow import run_workflow


def workflow_lake(spark: Any, root: Path, **sample: Any) -> tuple[Settings, RunReport]:
    """``root/landing`` generated (``lakehouse.generate.generate``'s arguments), then
    ``root/lake`` built from it by one run of the workflow."""
    generate(root / "landing", **sample)
    settings = load_settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"),
                             environ={})
    return settings, run_workflow(settings, spark=spark)


def workflow_world(spark: Any, root: Path, **sample: Any) -> dict[str, Any]:
    """``workflow_lake`` whose run passed its gates, as a module's shared ``world``: the
    folder, settings, lake and Delta I/O."""
    from lakehouse.io.delta import delta_io

    settings, report = workflow_lake(spark, root, **sample)
    assert not report.blocked, report.summary()
    lake = Lake.at(settings.lake_root)
    return {"root": root, "settings": settings, "lake": lake, "delta": delta_io(spark, lake)}


def stray_files(lake: Lake, names: list[str]) -> list[Path]:
    """Parquet files in the tables' folders that no commit of their logs added."""
    stray = []
    for name in names:
        root = Path(lake.uri(TableId.parse(name)))
        named = {(root / json.loads(line)["add"]["path"]).resolve()
                 for commit in (root / "_delta_log").glob("*.json")
                 for line in commit.read_text().splitlines() if '"add"' in line}
        stray += sorted({p.resolve() for p in root.rglob("*.parquet")} - named)
    return stray
