"""The JVM class archive: where it is kept, when a session writes or maps one, and - with real
JVMs - that a pipeline session's archive is put in place once its JVM exits, that the next
session maps it, and that a damaged one never stops a session from starting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lakehouse.runtime import class_archive as ca
from lakehouse.runtime.java import resolve_java_home
from lakehouse.runtime.spark import LOCAL_CONF

OPTIONS = LOCAL_CONF["spark.driver.extraJavaOptions"]


def _java_home(root: Path, version: str, *, base_archive: bool = True) -> Path:
    (root / "lib" / "server").mkdir(parents=True)
    (root / "release").write_text(f'JAVA_VERSION="{version}"\nOS_NAME="Linux"\n')
    if base_archive:
        (root / "lib" / "server" / "classes.jsa").write_bytes(b"base")
    return root


def _jars(root: Path) -> Path:
    jars = root / "jars"
    jars.mkdir()
    (jars / "spark-core.jar").write_bytes(b"core")
    (jars / "spark-sql.jar").write_bytes(b"sql")
    return jars


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_the_folder_is_the_setting_or_the_user_cache():
    assert ca.folder({"LAKEHOUSE_CLASS_ARCHIVE": "off"}) is None
    assert ca.folder({"LAKEHOUSE_CLASS_ARCHIVE": "/srv/archives"}) == Path("/srv/archives")
    assert ca.folder({"XDG_CACHE_HOME": "/c"}) == Path("/c/lakehouse/class-archives")


def test_only_a_runtime_with_dynamic_archives_and_a_base_archive_is_used(tmp_path):
    assert ca.unsupported(_java_home(tmp_path / "17", "17.0.15")) is None
    assert "Java 11" in ca.unsupported(_java_home(tmp_path / "11", "11.0.2"))
    assert "Java 8" in ca.unsupported(_java_home(tmp_path / "8", "1.8.0_392"))
    assert "no default class archive" in ca.unsupported(
        _java_home(tmp_path / "jlink", "17.0.9", base_archive=False))
    assert ca.unsupported(tmp_path / "nothing-here") is not None


def test_the_key_changes_with_the_jars_and_the_options(tmp_path):
    home, jars = _java_home(tmp_path / "java", "17.0.15"), _jars(tmp_path)
    key = ca.archive_key(home, jars, OPTIONS)
    assert ca.archive_key(home, jars, OPTIONS) == key
    assert ca.archive_key(home, jars, OPTIONS + " -Xmx1g") != key
    (jars / "spark-sql.jar").write_bytes(b"sql, upgraded")
    assert ca.archive_key(home, jars, OPTIONS) != key


def _archives(tmp_path: Path) -> ca.ClassArchives:
    where = tmp_path / "archives"
    where.mkdir(exist_ok=True)
    return ca.ClassArchives(where, _java_home(tmp_path / "java", "17.0.15"), OPTIONS,
                            _jars(tmp_path))


def test_a_pipeline_session_writes_the_archive_and_others_wait_for_it(tmp_path):
    archives = _archives(tmp_path)
    plain = archives.plan(write=False)
    assert plain.options == () and "no class archive yet" in plain.note

    writer = archives.plan(write=True)
    assert writer.writes and writer.archive is not None
    assert writer.options[0] == f"-XX:ArchiveClassesAtExit={writer.archive}"
    assert ca.QUIET in writer.options
    assert not writer.archive.exists()  # the JVM writes it as it exits
    assert json.loads(writer.sidecar.read_text())["pid"] == os.getpid()
    # while that session lives, no other writes one too
    second = archives.plan(write=True)
    assert second.options == () and "another session" in second.note


def test_what_a_gone_session_left_unfinished_is_cleared(tmp_path):
    archives = _archives(tmp_path)
    writer = archives.plan(write=True)
    assert writer.sidecar is not None and writer.archive is not None
    writer.archive.write_bytes(b"half an archive")
    writer.sidecar.write_text(json.dumps({"pid": _dead_pid(), "partial": str(writer.archive),
                                          "classpath": "/nowhere", "started": time.time()}))
    assert archives.settle() is False
    # not a loadable archive (the fake runtime cannot even start): never put in place
    assert not writer.archive.exists() and not writer.sidecar.exists()
    assert not archives.final.exists()
    assert archives.plan(write=True).writes  # the next pipeline session tries again


def test_a_writer_silent_for_a_day_is_taken_for_gone(tmp_path):
    archives = _archives(tmp_path)
    writer = archives.plan(write=True)
    assert writer.sidecar is not None
    info = json.loads(writer.sidecar.read_text())
    writer.sidecar.write_text(json.dumps({**info, "started": time.time() - ca.STALE_AFTER - 1}))
    assert archives.settle() is False and not writer.sidecar.exists()


def test_what_other_keys_left_is_settled_too_and_nobodys_archives_removed(tmp_path):
    archives = _archives(tmp_path)
    where = archives.where
    other = ca.ClassArchives(where, archives.java_home, OPTIONS + " -Xmx1g", tmp_path / "jars")
    assert other.key != archives.key
    # another key's session that is still writing: left alone, and no reason to wait
    writing = other.plan(write=True)
    assert writing.sidecar is not None and writing.archive is not None
    writing.archive.write_bytes(b"being written")
    assert archives.settle() is False
    assert writing.archive.exists() and writing.sidecar.exists()
    # once its JVM is gone, what it wrote is checked with the options it recorded (the fake
    # runtime maps nothing) and cleared, as a session of its own key would
    info = json.loads(writing.sidecar.read_text())
    assert info["java_options"] == other.java_options
    writing.sidecar.write_text(json.dumps({**info, "pid": _dead_pid(), "classpath": "/x"}))
    # an earlier release's sidecar of a third key (no options recorded), its JVM gone
    third = where / "spark-0123456789abcdef.1-aa.json"
    third.write_text(json.dumps({"pid": _dead_pid(), "partial": str(where / "spark-"
                                 "0123456789abcdef.1-aa.partial"), "started": time.time()}))
    (where / "spark-0123456789abcdef.1-aa.partial").write_bytes(b"old release")
    # and an archive no sidecar names
    (where / "spark-fedcba9876543210.9-zz.partial").write_bytes(b"nobody's")
    assert archives.settle() is False
    assert sorted(p.name for p in where.iterdir()) == []


def test_the_archives_used_last_are_kept(tmp_path):
    archives = _archives(tmp_path)
    where = archives.where
    old = time.time() - 3600
    for n, name in enumerate(("a", "b", "c", "d")):
        archive = where / f"spark-{name * 16}.jsa"
        archive.write_bytes(b"archive")
        os.utime(archive, (old + n, old + n))
    archives.final.write_bytes(b"this key's")
    os.utime(archives.final, (old - 60, old - 60))  # written first, long ago
    assert archives.plan(write=False).archive == archives.final  # mapped: used now
    archives._prune()
    assert sorted(p.name for p in where.glob("*.jsa")) == sorted(
        [archives.final.name, f"spark-{'c' * 16}.jsa", f"spark-{'d' * 16}.jsa"])


def test_a_failed_start_discards_the_archive(tmp_path):
    archives = _archives(tmp_path)
    archives.final.write_bytes(b"damaged")
    mapped = archives.plan(write=False)
    assert mapped.options[0] == f"-XX:SharedArchiveFile={archives.final}"
    mapped.discard()
    assert not archives.final.exists()


def test_no_archive_when_switched_off_or_unsupported(tmp_path):
    off = ca.plan(tmp_path, OPTIONS, write=True, environ={"LAKEHOUSE_CLASS_ARCHIVE": "off"})
    assert off.options == () and "off" in off.note
    old = ca.plan(_java_home(tmp_path / "11", "11.0.2"), OPTIONS, write=True,
                  environ={"LAKEHOUSE_CLASS_ARCHIVE": str(tmp_path / "a")})
    assert old.options == () and "Java 11" in old.note


_SESSION = textwrap.dedent("""
    import os
    from lakehouse.runtime.spark import get_spark
    spark = get_spark(write_archive=True, small_run=lambda: os.environ["SMALL_RUN"] == "1")
    assert spark.range(100).selectExpr("sum(id)").collect()[0][0] == 4950
    arguments = spark.sparkContext._jvm.java.lang.management.ManagementFactory \\
        .getRuntimeMXBean().getInputArguments()
    print("ARCHIVE", [a for a in arguments if "ArchiveClassesAtExit" in a
                      or "SharedArchiveFile" in a or "TieredStopAtLevel" in a])
""")


def _session(where: Path, tmp_path: Path, java_log: Path | None = None,
             small_run: bool = False) -> str:
    env = {**os.environ, "LAKEHOUSE_CLASS_ARCHIVE": str(where),
           "SMALL_RUN": "1" if small_run else "0"}
    if java_log is not None:  # the java launcher adds these to the JVM's options
        env["JDK_JAVA_OPTIONS"] = f"-Xlog:class+load=info:file={java_log}"
    done = subprocess.run([sys.executable, "-c", _SESSION], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(line for line in done.stdout.splitlines() if line.startswith("ARCHIVE"))


@pytest.mark.integration
def test_a_real_archive_is_written_checked_and_mapped(tmp_path):
    reason = ca.unsupported(resolve_java_home())
    if reason:
        pytest.skip(f"this Java runtime cannot use class archives: {reason}")
    where = tmp_path / "archives"
    written = _session(where, tmp_path)
    assert "ArchiveClassesAtExit" in written and "TieredStopAtLevel" not in written
    archives = ca.archives_for(resolve_java_home(), OPTIONS,
                               {"LAKEHOUSE_CLASS_ARCHIVE": str(where)})
    assert isinstance(archives, ca.ClassArchives)
    # written as the JVM exits, then checked by the next session, whatever its key: here one
    # with other JVM options, which checks it with the options its writer recorded
    other = ca.ClassArchives(where, resolve_java_home(), OPTIONS + " -Dlakehouse.test=other")
    deadline = time.monotonic() + 120
    while list(where.glob("*.json")) and time.monotonic() < deadline:
        other.settle()
        time.sleep(0.5)
    assert not other.final.exists()
    archive = archives.final if archives.final.is_file() else None
    assert archive is not None and archive.stat().st_size > 10_000_000
    assert list(where.glob("*.json")) == [] and list(where.glob("*.partial")) == []

    # A small run's session compiles with C1 only (lakehouse.runtime.spark.jit_options); the
    # archive a peak session wrote serves it (compiler options are not part of its key).
    java_log = tmp_path / "classes.log"
    mapped = _session(where, tmp_path, java_log, small_run=True)
    assert f"SharedArchiveFile={archive}" in mapped and "TieredStopAtLevel=1" in mapped
    # Spark's own classes came out of the archive (the "top" layer, over the JDK's own)
    loaded = java_log.read_text()
    assert "org.apache.spark.SparkContext source: shared objects file (top)" in loaded

    # damaged on disk: the JVM would crash mapping it; the session starts without it
    archive.chmod(0o644)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])
    assert "ArchiveClassesAtExit" not in _session(where, tmp_path)  # a plain session
    assert not archive.exists()
