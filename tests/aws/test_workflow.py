"""Starting the nightly Glue workflow and reading its status: against moto in server mode, and
(for the run graph moto does not produce) against botocore's Stubber, which checks every request
and answer against the Glue API model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.stub import Stubber

from lakehouse.aws.workflow import start_workflow, wait_for, workflow_status
from lakehouse.cli import main
from lakehouse.errors import LakehouseError
from lakehouse.pipeline.graph import load_job_graph
from tests.aws.conftest import REGION, client

NAME = "lakehouse-nightly"


@pytest.fixture
def workflow(aws) -> str:
    """The workflow as Terraform builds it from conf/job_graph.yaml (jobs and triggers)."""
    glue = client("glue", aws)
    graph = load_job_graph(Path(__file__).resolve().parents[2] / "conf")
    glue.create_workflow(Name=graph.workflow)
    for step in graph.steps:
        if step.kind == "job":
            glue.create_job(Name=f"lakehouse-{step.name}", Role="arn:aws:iam::1:role/glue",
                            Command={"Name": "glueetl",
                                     "ScriptLocation": f"s3://artifacts/{step.script}"})
    glue.create_trigger(Name=f"{graph.workflow}-schedule", WorkflowName=graph.workflow,
                        Type="ON_DEMAND", Actions=[{"JobName": "lakehouse-bronze_to_silver"}])
    return graph.workflow


def test_start_then_read_the_status_by_id_and_latest(workflow, aws):
    glue = client("glue", aws)
    run_id = start_workflow(glue, workflow)
    run = workflow_status(glue, workflow, run_id)
    assert (run.workflow, run.run_id, run.status) == (workflow, run_id, "RUNNING")
    assert not run.finished
    assert workflow_status(glue, workflow).run_id == run_id  # the latest run
    [listed] = glue.get_workflow_runs(Name=workflow)["Runs"]
    assert listed["WorkflowRunId"] == run_id


def test_commands(workflow, aws, capsys):
    assert main(["workflow", "start"]) == 0
    run_id = capsys.readouterr().out.split("run ")[-1].strip()
    assert run_id.startswith("wr_")
    assert main(["workflow", "status", run_id]) == 0
    assert f"workflow {NAME} run {run_id}: RUNNING" in capsys.readouterr().out
    assert main(["workflow", "status", "--name", "no-such-workflow"]) == 1
    err = capsys.readouterr().err
    assert "Glue get_workflow_runs failed" in err and "Traceback" not in err


def test_a_workflow_that_never_ran_is_a_clear_error(workflow, aws):
    with pytest.raises(LakehouseError, match="has never run"):
        workflow_status(client("glue", aws), workflow)


def test_waiting_gives_up_after_the_timeout(workflow, aws):
    glue = client("glue", aws)
    run_id = start_workflow(glue, workflow)
    slept = []
    with pytest.raises(LakehouseError, match="still RUNNING after 0 s"):
        wait_for(glue, workflow, run_id, timeout_s=0, sleep=slept.append)


def stubbed_run(status: str, job_state: str, failed: int = 0) -> dict:
    when = datetime(2024, 2, 1, 2, 0, tzinfo=UTC)
    return {"Run": {
        "Name": NAME, "WorkflowRunId": "wr_1", "Status": status, "StartedOn": when,
        "Statistics": {"TotalActions": 3, "SucceededActions": 3 - failed,
                       "FailedActions": failed, "RunningActions": 0},
        "Graph": {"Nodes": [
            {"Type": "TRIGGER", "Name": f"{NAME}-schedule", "UniqueId": "t"},
            {"Type": "JOB", "Name": "lakehouse-bronze_to_silver", "UniqueId": "j1",
             "JobDetails": {"JobRuns": [{"Id": "jr_1", "JobRunState": "SUCCEEDED"}]}},
            {"Type": "JOB", "Name": "lakehouse-silver_to_gold", "UniqueId": "j2",
             "JobDetails": {"JobRuns": [{"Id": "jr_2", "JobRunState": job_state}]}},
            {"Type": "CRAWLER", "Name": "lakehouse-gold", "UniqueId": "c1",
             "CrawlerDetails": {"Crawls": []}}]}}}


@pytest.mark.parametrize(("status", "job_state", "failed", "succeeded"), [
    ("COMPLETED", "SUCCEEDED", 0, True),
    ("COMPLETED", "FAILED", 1, False),  # Glue says COMPLETED even when a job failed
])
def test_a_finished_run_reports_every_job(status, job_state, failed, succeeded):
    import boto3

    glue = boto3.client("glue", region_name=REGION, aws_access_key_id="x",
                        aws_secret_access_key="x")
    with Stubber(glue) as stub:
        stub.add_response("get_workflow_run", stubbed_run(status, job_state, failed),
                          {"Name": NAME, "RunId": "wr_1", "IncludeGraph": True})
        run = wait_for(glue, NAME, "wr_1", sleep=lambda _: None)
    assert run.finished and run.succeeded is succeeded
    assert run.nodes == (("JOB", "lakehouse-bronze_to_silver", "SUCCEEDED"),
                         ("JOB", "lakehouse-silver_to_gold", job_state),
                         ("CRAWLER", "lakehouse-gold", "not started"))
    text = run.describe()
    assert f"lakehouse-silver_to_gold                 {job_state}" in text
    assert f"FailedActions {failed}" in text
