"""Terraform itself evaluates the configuration against a mocked AWS provider (`terraform test`
with `mock_provider`: no account, no network), and the workflow it builds is compared with
conf/job_graph.yaml as Python reads it.

Needs the terraform binary and an offline copy of the hashicorp/aws provider (a filesystem
mirror: $LAKEHOUSE_TF_PLUGIN_DIR, default /opt/tf-plugins); skipped when either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.infra import tf

PLUGIN_DIR = Path(os.environ.get("LAKEHOUSE_TF_PLUGIN_DIR", "/opt/tf-plugins"))
COPIED = ("infra", "conf", "glue_jobs", "crawlers", "pyproject.toml")
PREFIX = "lakehouse"  # name_prefix default
ACCOUNT = "111122223333"
REGION = "eu-west-1"

MOCKS = f"""
mock_provider "aws" {{
  mock_data "aws_caller_identity" {{
    defaults = {{ account_id = "{ACCOUNT}" }}
  }}
  mock_data "aws_region" {{
    defaults = {{ name = "{REGION}" }}
  }}
  mock_data "aws_partition" {{
    defaults = {{ partition = "aws" }}
  }}
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = "{{}}" }}
  }}
  mock_resource "aws_kms_key" {{
    defaults = {{ arn = "arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000" }}
  }}
  mock_resource "aws_sns_topic" {{
    defaults = {{ arn = "arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alerts" }}
  }}
  mock_resource "aws_iam_role" {{
    defaults = {{ arn = "arn:aws:iam::{ACCOUNT}:role/mock" }}
  }}
  mock_resource "aws_iam_policy" {{
    defaults = {{ arn = "arn:aws:iam::{ACCOUNT}:policy/mock" }}
  }}
  mock_resource "aws_secretsmanager_secret" {{
    defaults = {{ arn = "arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mock-AbCdEf" }}
  }}
  mock_resource "aws_athena_workgroup" {{
    defaults = {{ arn = "arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/mock" }}
  }}
  mock_resource "aws_s3_bucket" {{
    defaults = {{ arn = "arn:aws:s3:::mock" }}
  }}
  mock_resource "aws_cloudwatch_event_rule" {{
    defaults = {{ arn = "arn:aws:events:{REGION}:{ACCOUNT}:rule/mock" }}
  }}
  mock_resource "aws_cloudwatch_log_group" {{
    defaults = {{ arn = "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:mock" }}
  }}
  mock_resource "aws_glue_crawler" {{
    defaults = {{ arn = "arn:aws:glue:{REGION}:{ACCOUNT}:crawler/mock" }}
  }}
  mock_resource "aws_glue_job" {{
    defaults = {{ arn = "arn:aws:glue:{REGION}:{ACCOUNT}:job/mock" }}
  }}
}}
"""


def _hcl(value: object) -> str:
    """A Python string, list or map as an HCL literal (JSON syntax is valid HCL here)."""
    return json.dumps(value)


def _assert(condition: str, message: str) -> str:
    return (f"  assert {{\n    condition     = {condition}\n"
            f"    error_message = {_hcl(message)}\n  }}\n")


def _expected() -> dict:
    graph = yaml.safe_load((tf.REPO / "conf" / "job_graph.yaml").read_text(encoding="utf-8"))
    crawlers = json.loads((tf.REPO / "crawlers" / "crawlers.json").read_text(encoding="utf-8"))
    crawler_names = [f"{PREFIX}-{c['name']}" for c in crawlers["crawlers"]]
    steps = {step["name"]: step for step in graph["steps"]}

    def targets(name: str, state: str | None = None) -> list[str]:
        suffix = f":{state}" if state else ""
        if steps[name]["kind"] == "job":
            return [f"job:{PREFIX}-{name}{suffix}"]
        return [f"crawler:{c}{suffix}" for c in crawler_names]

    return {
        "graph": graph,
        "crawler_names": crawler_names,
        "jobs": {n: s["script"] for n, s in steps.items() if s["kind"] == "job"},
        "scheduled": sorted(t for n, s in steps.items() if not s.get("after") for t in targets(n)),
        "conditional": {
            n: {"conditions": sorted({t for before in s["after"]
                                      for t in targets(before, "SUCCEEDED")}),
                "actions": sorted(targets(n))}
            for n, s in steps.items() if s.get("after")},
    }


def _test_file(wheel: Path) -> str:
    expected = _expected()
    graph = expected["graph"]
    glue = yaml.safe_load((tf.REPO / "conf" / "env" / "glue.yaml").read_text(encoding="utf-8"))
    action = 'a.job_name != null ? "job:${a.job_name}" : "crawler:${a.crawler_name}"'
    condition = ('c.job_name != null ? "job:${c.job_name}:${c.state}" '
                 ': "crawler:${c.crawler_name}:${c.crawl_state}"')

    environment = "run \"environment\" {\n  command = apply\n"
    environment += f"  variables {{\n    region     = {_hcl(REGION)}\n"
    environment += f"    wheel_path = {_hcl(str(wheel))}\n  }}\n"
    environment += _assert(f"output.glue_workflow_name == {_hcl(graph['workflow'])}", "workflow")
    environment += _assert(
        "output.glue_job_names == " + _hcl({n: f"{PREFIX}-{n}" for n in expected["jobs"]}),
        "one Glue job per job step")
    environment += _assert(
        f"toset(output.glue_crawler_names) == toset({_hcl(expected['crawler_names'])})",
        "one crawler per crawlers.json entry")
    environment += _assert(
        f"output.tokenization_secret_name == {_hcl(glue['tokenization']['secret_id'])}",
        "the secret glue.yaml names")
    prefix = (glue.get("catalog") or {}).get("database_prefix", "lakehouse_")
    environment += _assert(
        "output.glue_database_names == "
        + _hcl({layer: f"{prefix}{layer}" for layer in ("bronze", "silver", "gold", "ops")}),
        "one database per layer")
    environment += _assert(
        f"output.lake_root == \"s3://{PREFIX}-silver-{ACCOUNT}-{REGION}\"", "lake root")
    environment += "}\n"

    workflow = "run \"workflow\" {\n  command = apply\n"
    workflow += "  module {\n    source = \"../../modules/glue_jobs\"\n  }\n"
    workflow += "  variables {\n" + "".join(f"    {k} = {_hcl(v)}\n" for k, v in {
        "name_prefix": PREFIX, "artifacts_bucket": "artifacts",
        "kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
        "job_role_arn": f"arn:aws:iam::{ACCOUNT}:role/job", "security_configuration_name": "sc",
        "crawler_names": expected["crawler_names"], "lake_root": "s3://silver",
        "landing_root": "s3://landing", "bronze_root": "s3://bronze/bronze",
        "gold_root": "s3://gold/gold", "log_group_prefix": "/aws-glue/lakehouse",
        "wheel_path": str(wheel)}.items()) + "  }\n"
    workflow += _assert(f"aws_glue_workflow.nightly.name == {_hcl(graph['workflow'])}",
                        "workflow name")
    workflow += _assert(
        'aws_glue_trigger.schedule.type == "SCHEDULED" && aws_glue_trigger.schedule.schedule == '
        + _hcl(graph["schedule"]), "scheduled trigger")
    workflow += _assert(
        f"toset([for a in aws_glue_trigger.schedule.actions : {action}]) == "
        f"toset({_hcl(expected['scheduled'])})", "the schedule starts the steps without after")
    workflow += _assert(
        f"toset(keys(aws_glue_trigger.step)) == toset({_hcl(sorted(expected['conditional']))})",
        "one conditional trigger per step with after")
    for name, want in expected["conditional"].items():
        trigger = f"aws_glue_trigger.step[{_hcl(name)}]"
        workflow += _assert(
            f'{trigger}.type == "CONDITIONAL" && {trigger}.predicate[0].logical == "AND"',
            f"{name}: conditional, all conditions")
        workflow += _assert(
            f"toset([for c in {trigger}.predicate[0].conditions : {condition}]) == "
            f"toset({_hcl(want['conditions'])})", f"{name}: waits for every step in after")
        workflow += _assert(
            f"toset([for a in {trigger}.actions : {action}]) == toset({_hcl(want['actions'])})",
            f"{name}: starts its job or the crawlers")
    for name, script in expected["jobs"].items():
        job = f"aws_glue_job.step[{_hcl(name)}]"
        workflow += _assert(
            f'{job}.command[0].script_location == "s3://artifacts/glue_jobs/{Path(script).name}"'
            f' && {job}.glue_version == "5.0"'
            f' && {job}.default_arguments["--datalake-formats"] == "delta"', f"job {name}")
    workflow += "}\n"
    return MOCKS + environment + workflow


@pytest.fixture(scope="module")
def terraform() -> str:
    binary = shutil.which("terraform")
    if not binary:
        pytest.skip("terraform is not installed")
    if not list(PLUGIN_DIR.glob("registry.terraform.io/hashicorp/aws/5.*/*")):
        pytest.skip(f"no offline hashicorp/aws 5.x provider under {PLUGIN_DIR}")
    return binary


def test_configuration_applies_against_a_mocked_provider(terraform: str, tmp_path: Path) -> None:
    for name in COPIED:
        origin = tf.REPO / name
        if origin.is_dir():
            shutil.copytree(origin, tmp_path / name, ignore=shutil.ignore_patterns(
                ".terraform", "*.tfstate*", "__pycache__"))
        else:
            shutil.copy2(origin, tmp_path / name)
    version = tomllib.loads((tf.REPO / "pyproject.toml").read_text())["project"]["version"]
    wheel = tmp_path / "dist" / f"lakehouse-{version}-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"stand-in for make package")
    root = tmp_path / "infra" / "terraform" / "environments" / "prod"

    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{PLUGIN_DIR}"\n'
                  "  }\n}\n", encoding="utf-8")
    cache = tmp_path / "plugin-cache"  # links to the mirror instead of copying the provider
    cache.mkdir()
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_PLUGIN_CACHE_DIR": str(cache),
           "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    fmt = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"],
                         cwd=tmp_path / "infra" / "terraform", env=env, capture_output=True,
                         text=True, timeout=120)
    assert fmt.returncode == 0, f"terraform fmt would change:\n{fmt.stdout[-3000:]}"
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "generated.tftest.hcl").write_text(_test_file(wheel), encoding="utf-8")
    for args in (["init", "-backend=false", "-input=false", "-no-color"],
                 ["validate", "-no-color"],
                 ["test", "-no-color"]):
        result = subprocess.run([terraform, *args], cwd=root, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, \
            f"terraform {args[0]} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "2 passed, 0 failed" in result.stdout, result.stdout[-3000:]
