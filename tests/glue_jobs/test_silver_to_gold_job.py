"""The silver_to_gold Glue entry point: locally it commits nothing until Silver exists."""

from __future__ import annotations

import pytest

from tests.glue_jobs.jobs import load_job


@pytest.mark.integration
def test_without_silver_the_job_commits_nothing(tmp_path, spark, capsys):
    job = load_job("silver_to_gold")
    code = job.main(["job.py", "--JOB_NAME", "silver_to_gold", "--env", "local",
                     "--lake_root", str(tmp_path / "lake")])
    assert code == 0
    assert not (tmp_path / "lake" / "gold").exists()
