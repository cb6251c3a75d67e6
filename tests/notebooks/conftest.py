"""A generated lake for the notebook tests, built once per session by the real workflow.

Sized for the loan model: about 0.4 loans per customer, a few percent of them defaulted, and the
time-based test set needs a dozen or more defaults for an AUC worth asserting on. One month keeps
the number of daily files (the workflow's main cost) low; the loan book still spans four years of
originations because loans already on the book are reported with their history.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LAKE_SAMPLE = {"customers": 3000, "months": 1, "seed": 11, "defect_rate": 0.02}


@pytest.fixture(scope="session")
def notebook_lake(spark, tmp_path_factory) -> Path:
    from lakehouse.config import load_settings
    from lakehouse.generate import generate
    from lakehouse.pipeline.workflow import run_workflow

    root = tmp_path_factory.mktemp("notebook-lake")
    generate(root / "landing", **LAKE_SAMPLE)
    settings = load_settings(lake_root=str(root / "lake"), landing_root=str(root / "landing"),
                             environ={})
    run_workflow(settings, spark=spark).raise_if_blocked()
    return root / "lake"
