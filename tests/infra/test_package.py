"""`make package`: the wheel Glue installs carries the library and conf/, nothing else, and
finds its configuration without a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.infra import tf

COPIED = ("pyproject.toml", "README.md", "lakehouse", "conf")


def _repo_files(folder: str) -> set[str]:
    base = tf.REPO / folder
    return {p.relative_to(base).as_posix() for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built the way `make package` does, from a copy of the sources (so the build
    never touches the working tree's build/ folder)."""
    work = tmp_path_factory.mktemp("package")
    source = work / "src"
    source.mkdir()
    for name in COPIED:
        origin = tf.REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    dist = work / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist),
         str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = dist.glob("lakehouse-*-py3-none-any.whl")
    return built


def test_make_package_target_builds_the_wheel() -> None:
    makefile = (tf.REPO / "Makefile").read_text(encoding="utf-8")
    assert "package" in makefile.split(".PHONY:", 1)[1].splitlines()[0]
    assert "pip wheel" in makefile and "--no-deps" in makefile and "dist" in makefile


def test_wheel_holds_the_library_and_conf_only(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    version = wheel.name.split("-")[1]
    outside = {n for n in names
               if not n.startswith(("lakehouse/", f"lakehouse-{version}.dist-info/"))}
    assert not outside, f"unexpected files in the wheel: {sorted(outside)[:10]}"
    assert "lakehouse/cli.py" in names
    modules = {f"lakehouse/{p}" for p in _repo_files("lakehouse") if p.endswith(".py")}
    missing = modules - names
    assert not missing, f"modules missing from the wheel (add the package to [tool.setuptools] " \
                        f"packages in pyproject.toml): {sorted(missing)}"
    conf = {f"lakehouse/_conf/{p}" for p in _repo_files("conf")}
    assert conf - names == set(), f"conf files missing from the wheel: {sorted(conf - names)}"
    for needed in ("lakehouse.yaml", "env/glue.yaml", "job_graph.yaml"):
        assert f"lakehouse/_conf/{needed}" in names
    assert not any(n.startswith(("tests/", "glue_jobs/", "infra/")) for n in names)
    assert not any("/tests/" in n for n in names)


def test_installed_wheel_finds_its_configuration(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    script = (
        "import json, pathlib, lakehouse\n"
        "from lakehouse.config import load_settings\n"
        "local = load_settings()\n"
        "glue = load_settings(environment='glue')\n"
        "print(json.dumps({'module': lakehouse.__file__, 'conf': local.conf_dir,\n"
        "                  'sources': sorted(local.sources),\n"
        "                  'secret': glue.tokenization.secret_id,\n"
        "                  'graph': (pathlib.Path(glue.conf_dir) / 'job_graph.yaml').is_file(),\n"
        "                  'reference': sorted(p.name for p in local.reference_dir.iterdir())}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env["PYTHONPATH"] = str(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=elsewhere, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(found["module"]).is_relative_to(target), "imported the checkout, not the wheel"
    assert Path(found["conf"]) == (target / "lakehouse" / "_conf").resolve()
    expected = sorted(yaml.safe_load(p.read_text(encoding="utf-8"))["name"]
                      for p in (tf.REPO / "conf" / "sources").glob("*.yaml"))
    assert found["sources"] == expected and len(expected) == 3
    glue = yaml.safe_load((tf.REPO / "conf" / "env" / "glue.yaml").read_text(encoding="utf-8"))
    assert found["secret"] == glue["tokenization"]["secret_id"]
    assert found["graph"] is True
    assert found["reference"] == sorted(p.name for p in (tf.REPO / "conf" / "reference").iterdir())
