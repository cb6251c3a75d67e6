"""Every Glue job script runs nothing at import: Glue imports it, then calls main()."""

from __future__ import annotations

import pytest

from tests.glue_jobs.jobs import GLUE_JOBS, load_job


@pytest.mark.parametrize("name", sorted(p.stem for p in GLUE_JOBS.glob("*.py")))
def test_import_runs_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert callable(load_job(name).main)
    assert list(tmp_path.iterdir()) == []
