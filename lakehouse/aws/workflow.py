"""The nightly Glue workflow (built by Terraform from ``conf/job_graph.yaml``): start a run and
read its status, job by job."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakehouse.errors import LakehouseError

FINISHED = ("COMPLETED", "STOPPED", "ERROR")


@dataclass(frozen=True)
class WorkflowRun:
    workflow: str
    run_id: str
    status: str
    started_on: Any = None
    completed_on: Any = None
    error: str | None = None
    statistics: dict[str, int] = field(default_factory=dict)
    nodes: tuple[tuple[str, str, str], ...] = ()  # (type, name, state)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        stats = self.statistics
        return (self.status == "COMPLETED" and not stats.get("FailedActions")
                and not stats.get("TimeoutActions") and not stats.get("StoppedActions"))

    def describe(self) -> str:
        lines = [f"workflow {self.workflow} run {self.run_id}: {self.status}"
                 + (f" ({self.error})" if self.error else "")]
        if self.statistics:
            lines.append("  " + ", ".join(f"{k} {v}" for k, v in sorted(self.statistics.items())))
        lines += [f"  {kind.lower():<8} {name:<40} {state}" for kind, name, state in self.nodes]
        return "\n".join(lines)


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from lakehouse.aws import aws_error

    try:
        return getattr(client, operation)(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise LakehouseError(aws_error(f"Glue {operation}", exc)) from None


def start_workflow(client: Any, workflow: str) -> str:
    """Start a run; its id."""
    return str(_call(client, "start_workflow_run", Name=workflow)["RunId"])


def _state(node: dict[str, Any]) -> str:
    if node.get("Type") == "JOB":
        runs = (node.get("JobDetails") or {}).get("JobRuns") or []
        return str(runs[0].get("JobRunState", "")) if runs else "not started"
    if node.get("Type") == "CRAWLER":
        crawls = (node.get("CrawlerDetails") or {}).get("Crawls") or []
        return str(crawls[0].get("State", "")) if crawls else "not started"
    return ""


def workflow_status(client: Any, workflow: str, run_id: str | None = None) -> WorkflowRun:
    """A run's status (the latest run when ``run_id`` is None)."""
    if run_id is None:
        runs = _call(client, "get_workflow_runs", Name=workflow, MaxResults=1).get("Runs", [])
        if not runs:
            raise LakehouseError(f"workflow {workflow} has never run")
        run_id = runs[0]["WorkflowRunId"]
    run = _call(client, "get_workflow_run", Name=workflow, RunId=run_id,
                IncludeGraph=True)["Run"]
    nodes = tuple((n.get("Type", ""), n.get("Name", ""), _state(n))
                  for n in (run.get("Graph") or {}).get("Nodes", [])
                  if n.get("Type") in ("JOB", "CRAWLER"))
    return WorkflowRun(workflow, run["WorkflowRunId"], run.get("Status", "UNKNOWN"),
                       run.get("StartedOn"), run.get("CompletedOn"), run.get("ErrorMessage"),
                       {k: int(v) for k, v in (run.get("Statistics") or {}).items()}, nodes)


def wait_for(client: Any, workflow: str, run_id: str, timeout_s: float = 6 * 3600,
             poll_s: float = 30, progress: Callable[[str], None] = lambda _: None,
             sleep: Callable[[float], None] = time.sleep) -> WorkflowRun:
    """Poll until the run finishes (or ``timeout_s`` passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = workflow_status(client, workflow, run_id)
        if run.finished:
            return run
        if time.monotonic() > deadline:
            raise LakehouseError(f"workflow {workflow} run {run_id} still {run.status} after "
                                 f"{timeout_s:.0f} s")
        progress(f"workflow {workflow} run {run_id}: {run.status}")
        sleep(poll_s)
