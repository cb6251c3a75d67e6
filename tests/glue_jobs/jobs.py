"""Load a Glue job script the way Glue does: as a file, not as part of a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

GLUE_JOBS = Path(__file__).resolve().parents[2] / "glue_jobs"


def load_job(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_job", GLUE_JOBS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
