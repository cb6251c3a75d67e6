"""The nightly job graph (``conf/job_graph.yaml``), defined once.

The local runner (``lakehouse run``) walks it in order; Terraform builds the Glue workflow's
triggers from the same file. A ``job`` step is a Glue job whose script is ``glue_jobs/<name>.py``;
the ``crawler`` step runs the catalog crawlers on AWS and the registrar locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from lakehouse.errors import ConfigError


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["job", "crawler"]
    script: str | None = None
    after: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _script_for_jobs(self) -> Step:
        if self.kind == "job" and self.script != f"glue_jobs/{self.name}.py":
            raise ValueError(f"job {self.name} must have script glue_jobs/{self.name}.py")
        if self.kind == "crawler" and self.script is not None:
            raise ValueError(f"crawler step {self.name} has no script")
        return self


class JobGraph(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow: str
    schedule: str
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _acyclic(self) -> JobGraph:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        for step in self.steps:
            unknown = [a for a in step.after if a not in names]
            if unknown:
                raise ValueError(f"step {step.name} runs after unknown step(s) {unknown}")
        self.order()  # raises on a cycle
        return self

    def order(self) -> list[Step]:
        """Steps so that each comes after everything it depends on (file order breaks ties)."""
        done: list[Step] = []
        pending = list(self.steps)
        while pending:
            ready = [s for s in pending if all(a in {d.name for d in done} for a in s.after)]
            if not ready:
                raise ValueError(f"the steps {[s.name for s in pending]} depend on each other")
            done.append(ready[0])
            pending.remove(ready[0])
        return done

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def load_job_graph(conf_dir: str | Path) -> JobGraph:
    path = Path(conf_dir) / "job_graph.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the job graph {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return JobGraph.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(str(p) for p in first['loc'])}: "
                          f"{first['msg'].removeprefix('Value error, ')}") from None
