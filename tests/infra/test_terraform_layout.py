"""infra/terraform parses, is laid out as modules + one environment root, and its references
resolve (a static stand-in for `terraform validate`, which needs the Terraform binary)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.infra import tf

ROOT = tf.ENVIRONMENTS / "prod"
EXPECTED_MODULES = {"kms", "storage", "secrets", "catalog", "glue_jobs", "athena", "iam",
                    "monitoring"}
META_ARGUMENTS = {"source", "count", "for_each", "depends_on", "providers", "version"}


def _folders() -> list[Path]:
    return sorted({path.parent for path in tf.tf_files()})


def _expressions(node: Any) -> list[str]:
    """Every string holding an interpolation or expression in a parsed body."""
    found: list[str] = []
    if isinstance(node, dict):
        for value in node.values():
            found += _expressions(value)
    elif isinstance(node, list):
        for item in node:
            found += _expressions(item)
    elif isinstance(node, str) and "${" in node:
        found.append(node)
    return found


def _folder_expressions(folder: Path) -> list[str]:
    found: list[str] = []
    for path in tf.folder_files(folder):
        found += _expressions(tf.load(path))
    return found


@pytest.mark.parametrize("path", tf.tf_files(), ids=lambda p: str(p.relative_to(tf.TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    with path.open(encoding="utf-8") as handle:
        assert hcl2.load(handle) is not None


def test_layout_is_modules_and_one_environment_root() -> None:
    assert {p.name for p in tf.MODULES.iterdir() if p.is_dir()} == EXPECTED_MODULES
    assert [p.name for p in tf.ENVIRONMENTS.iterdir() if p.is_dir()] == ["prod"]
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf",
                 "terraform.tfvars.example"):
        assert (ROOT / name).is_file(), name
    for module in EXPECTED_MODULES:
        for name in ("main.tf", "variables.tf", "outputs.tf"):
            assert (tf.MODULES / module / name).is_file(), f"{module}/{name}"
    readme = (tf.TERRAFORM / "README.md").read_text(encoding="utf-8")
    assert "make package" in readme and "put-secret-value" in readme


def test_aws_provider_is_pinned_to_5x() -> None:
    terraform = tf.block(tf.load(ROOT / "versions.tf"), "terraform")
    aws = tf.mapping(tf.block(terraform, "required_providers")["aws"])
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~>\s*5\.\d+", aws["version"]), aws["version"]
    assert "required_version" in terraform


def test_root_calls_every_module_with_its_variables() -> None:
    calls = tf.module_calls(ROOT)
    assert set(calls) == EXPECTED_MODULES
    for name, call in calls.items():
        folder = tf.resolve(ROOT, f"{ROOT}/{call['source']}")
        assert folder == (tf.MODULES / name).resolve(), f"module {name}: source {call['source']}"
        declared = tf.variables_of(folder)
        passed = set(call) - META_ARGUMENTS
        assert passed <= set(declared), f"module {name}: undeclared {passed - set(declared)}"
        required = {v for v, spec in declared.items() if "default" not in spec}
        assert required <= passed, f"module {name}: missing {required - passed}"


def test_module_outputs_used_by_the_root_exist() -> None:
    calls = tf.module_calls(ROOT)
    for expression in _folder_expressions(ROOT):
        for module, output in re.findall(r"\bmodule\.(\w+)\.(\w+)", expression):
            folder = tf.MODULES / module
            assert module in calls, f"unknown module {module} in {expression}"
            assert output in tf.outputs_of(folder), f"module {module} has no output {output}"


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: str(p.relative_to(tf.TERRAFORM)))
def test_references_resolve(folder: Path) -> None:
    variables = set(tf.variables_of(folder))
    local_names = set(tf.locals_of(folder))
    resource_names = {(r.type, r.name) for r in tf.resources() if r.folder == folder}
    data_names = {(d.type, d.name) for d in tf.data_sources() if d.folder == folder}
    for expression in _folder_expressions(folder):
        for name in re.findall(r"\bvar\.([A-Za-z_][\w-]*)", expression):
            assert name in variables, f"var.{name} is not declared ({expression})"
        for name in re.findall(r"\blocal\.([A-Za-z_][\w-]*)", expression):
            assert name in local_names, f"local.{name} is not defined ({expression})"
        for type_, name in re.findall(r"(?<![\w.])(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)",
                                      expression):
            assert (type_, name) in resource_names, f"{type_}.{name} does not exist here"
        for type_, name in re.findall(r"\bdata\.(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)",
                                      expression):
            assert (type_, name) in data_names, f"data.{type_}.{name} does not exist here"


def test_every_variable_and_output_is_described() -> None:
    for folder in _folders():
        for kind, items in (("variable", tf.variables_of(folder)),
                            ("output", tf.outputs_of(folder))):
            for name, spec in items.items():
                assert spec.get("description"), f"{folder.name}: {kind} {name} has no description"
