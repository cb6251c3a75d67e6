"""The silver_to_gold Glue entry point: nothing at import; locally it skips until Silver exists."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "glue_jobs" / "silver_to_gold.py"


def load_job():
    spec = importlib.util.spec_from_file_location("silver_to_gold_job", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert callable(load_job().main)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_without_silver_the_job_commits_nothing(tmp_path, spark, capsys):
    code = load_job().main(["job.py", "--JOB_NAME", "silver_to_gold", "--env", "local",
                            "--lake_root", str(tmp_path / "lake")])
    assert code == 0
    assert not (tmp_path / "lake" / "gold").exists()
