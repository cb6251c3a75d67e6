"""The job graph is defined once (conf/job_graph.yaml): it is valid, names real Glue entry
points, and the local runner has a step for each of its jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse.errors import ConfigError
from lakehouse.pipeline.graph import load_job_graph
from lakehouse.pipeline.workflow import _Run

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_graph_is_valid_and_ordered():
    graph = load_job_graph(ROOT / "conf")
    order = [s.name for s in graph.order()]
    for step in graph.steps:
        assert all(order.index(a) < order.index(step.name) for a in step.after)
    assert order[0] == "bronze_to_silver"
    assert graph.step(order[-1]).kind == "crawler", "the catalog is refreshed last"


def test_jobs_are_the_glue_entry_points_and_the_local_runner_knows_them():
    graph = load_job_graph(ROOT / "conf")
    jobs = {s.name for s in graph.steps if s.kind == "job"}
    scripts = {p.stem for p in (ROOT / "glue_jobs").glob("*.py") if p.stem != "__init__"}
    assert jobs == scripts
    for name in jobs:
        assert (ROOT / graph.step(name).script).is_file()
        assert callable(getattr(_Run, name))


def write(tmp_path: Path, steps: list[dict]) -> Path:
    (tmp_path / "job_graph.yaml").write_text(yaml.safe_dump(
        {"workflow": "w", "schedule": "cron(0 2 * * ? *)", "steps": steps}))
    return tmp_path


@pytest.mark.parametrize(("steps", "message"), [
    ([{"name": "a", "kind": "job", "script": "glue_jobs/a.py", "after": ["b"]},
      {"name": "b", "kind": "job", "script": "glue_jobs/b.py", "after": ["a"]}],
     "depend on each other"),
    ([{"name": "a", "kind": "job", "script": "glue_jobs/a.py", "after": ["zzz"]}],
     "unknown step"),
    ([{"name": "a", "kind": "job", "script": "glue_jobs/other.py"}],
     "must have script glue_jobs/a.py"),
    ([{"name": "a", "kind": "job", "script": "glue_jobs/a.py"},
      {"name": "a", "kind": "crawler"}], "unique"),
    ([{"name": "a", "kind": "lambda"}], "steps.0.kind"),
])
def test_a_broken_graph_is_a_one_line_error(tmp_path, steps, message):
    with pytest.raises(ConfigError, match=message):
        load_job_graph(write(tmp_path, steps))
