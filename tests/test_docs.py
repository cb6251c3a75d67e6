"""The documentation matches the code: every command the README and the deploy guide show parses
with the real command line, and every Terraform output and make target they name exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from lakehouse.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "deploy.md"]


def commands(path: Path, program: str) -> list[str]:
    """Lines of fenced code blocks that start with ``program``."""
    found, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        text = line.split("#")[0].strip() if program != "terraform" else line.strip()
        synopsis = "[" in text or "|" in text.split("#")[0]
        if fenced and text.startswith(program + " ") and not synopsis:
            found.append(text)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_lakehouse_command_shown_parses(doc):
    shown = commands(doc, "lakehouse")
    assert shown, f"{doc.name} shows no lakehouse command"
    parser = build_parser()
    for line in shown:
        argv = [a.replace('"$LANDING"', "s3://x/landing") for a in shlex.split(line)[1:]]
        argv = [re.sub(r"^\$\w+$", "s3://x/landing", a) for a in argv]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{doc.name}: {line!r} does not parse")


def test_terraform_outputs_and_make_targets_named_in_the_guide_exist():
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    outputs = set(re.findall(r'^output "(\w+)"', (ROOT / "infra" / "terraform" / "environments" /
                                                  "prod" / "outputs.tf").read_text(), re.M))
    named = set(re.findall(r"terraform output (?:-raw |-json )?(\w+)", guide))
    assert named and named <= outputs, named - outputs
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert set(re.findall(r"make (\w+)", guide)) <= targets
    for example in ("terraform.tfvars.example", "backend.hcl.example"):
        assert (ROOT / "infra" / "terraform" / "environments" / "prod" / example).is_file()
    assert "lakehouse/tokenization-key" in guide
    assert "lakehouse/tokenization-key" in (ROOT / "conf" / "env" / "glue.yaml").read_text()
