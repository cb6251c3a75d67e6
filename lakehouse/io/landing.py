"""Landing files: discovery, fingerprints, per-file checks, and reading them into Spark as text.

Layout: ``<landing>/<source>/**`` (any nesting, any names, ``.gz`` allowed). Files whose name starts
with ``.`` or ``_`` are ignored (temporary uploads, markers).
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import io
import logging
import re
import shutil
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.fs as pafs
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config import SourceConfig
from lakehouse.errors import LandingError
from lakehouse.io.lake import spark_path
from lakehouse.runtime.spark import local_frame

log = logging.getLogger(__name__)

CORRUPT = "corrupt_record"
SOURCE_FILE = "source_file"
# The landing file's modification time: orders versions of a record across files.
LANDED_AT = "landed_at"
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LandingFile:
    """One landing file and its fingerprint."""

    source: str
    uri: str            # what Spark and pyarrow open
    relative: str       # path below the landing root, e.g. transactions/2024/01/x.csv
    size: int
    modified: datetime
    content_hash: str | None   # sha256 of the bytes as landed; None when unreadable
    problem: str | None = None  # why the file cannot be loaded (then it yields no rows)

    @property
    def compressed(self) -> bool:
        return self.relative.endswith(".gz")

    @property
    def identity(self) -> tuple[str, int, int]:
        """``LandingEntry.identity`` as the file was listed."""
        return _identity(self.relative, self.size, self.modified)


def _identity(relative: str, size: int, modified: datetime) -> tuple[str, int, int]:
    """Path, size and modification time (ms): unchanged means no need to read it again."""
    return (relative, size, int(modified.timestamp() * 1000))


def bronze_column(raw_name: str) -> str:
    """Bronze column for a raw column; nested JSON paths ``a.b`` become ``a__b``."""
    return raw_name.replace(".", "__")


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    if "://" in root and not root.startswith("file://"):
        return pafs.FileSystem.from_uri(root)
    path = Path(root.removeprefix("file://")).expanduser().resolve()
    return pafs.LocalFileSystem(), str(path)


def _fingerprint(fs: pafs.FileSystem, path: str, compressed: bool) -> tuple[str | None, str | None]:
    """(sha256, problem): reads the whole file once; also proves a .gz decompresses to the end,
    and that a file without the .gz name is not gzip (Spark would read its bytes as text)."""
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if compressed else None
    gzipped: bool | None = None  # known after the first chunk
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            while chunk := stream.read(_CHUNK):
                if gzipped is None:
                    gzipped = not compressed and chunk.startswith(_GZIP_MAGIC)
                digest.update(chunk)
                if inflater is not None:
                    inflater.decompress(chunk, 0)
                    # a .gz of several members: keep inflating the next member
                    while inflater.eof and inflater.unused_data:
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        inflater.decompress(rest, 0)
    except OSError as exc:
        return None, f"unreadable: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
    except zlib.error as exc:
        return digest.hexdigest(), f"corrupt gzip: {exc}"
    if inflater is not None and not inflater.eof:
        return digest.hexdigest(), "corrupt gzip: truncated stream"
    if gzipped:
        return digest.hexdigest(), "gzip content in a file not named .gz"
    return digest.hexdigest(), None


@dataclass(frozen=True)
class LandingEntry:
    """A landing file as listed (cheap: no content read)."""

    uri: str
    relative: str
    size: int
    modified: datetime

    @property
    def identity(self) -> tuple[str, int, int]:
        """Path, size and modification time (ms): unchanged means no need to read it again."""
        return _identity(self.relative, self.size, self.modified)


_NAMED_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_FOLDER_DAY = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/")


def landing_date(relative: str) -> date | None:
    """The day a landing file holds, as its name says: the last ``YYYY-MM-DD`` in the file's
    name (``transactions_2024-03-25.csv``), else a ``YYYY/MM/DD/`` folder; None when neither
    is there (or it is no calendar day)."""
    name = relative.rsplit("/", 1)[-1]
    found = _NAMED_DAY.findall(name) or _FOLDER_DAY.findall(relative)
    if not found:
        return None
    try:
        return date(*map(int, found[-1]))
    except ValueError:
        return None


def list_landing(landing_root: str, source: SourceConfig) -> list[LandingEntry]:
    """Every landing file of a source, in path order, without reading them."""
    fs, base = _filesystem(landing_root)
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        raise LandingError(f"landing folder not found: {landing_root}")
    folder = f"{base}/{source.landing_folder}"
    infos = [i for i in fs.get_file_info(pafs.FileSelector(folder, recursive=True,
                                                           allow_not_found=True))
             if i.type == pafs.FileType.File]
    entries = []
    for info in sorted(infos, key=lambda i: i.path):
        relative = info.path[len(base) + 1:]
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        uri = info.path if isinstance(fs, pafs.LocalFileSystem) else \
            f"{landing_root.split('://', 1)[0]}://{info.path}"
        modified = (info.mtime or datetime.fromtimestamp(0, tz=UTC))
        entries.append(LandingEntry(uri, relative, info.size,
                                    modified.astimezone(UTC)))
    return entries


def fingerprint(source: SourceConfig, entry: LandingEntry) -> LandingFile:
    """Read a landing file once: its sha256, and whether it can be loaded at all."""
    fs, _ = _filesystem(entry.uri if "://" in entry.uri else "/")
    content_hash, problem = _fingerprint(fs, _fs_path(entry.uri), entry.relative.endswith(".gz"))
    if problem is None and entry.size == 0:
        problem = "empty file"
    return LandingFile(source.name, entry.uri, entry.relative, entry.size, entry.modified,
                       content_hash, problem)


def _fs_path(uri: str) -> str:
    """What a pyarrow filesystem opens: ``bucket/key`` for ``s3://bucket/key``."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def _first_bytes(fs: pafs.FileSystem, path: str, compressed: bool, limit: int = 1 << 16) -> bytes:
    with fs.open_input_stream(_fs_path(path), compression=None) as stream:
        raw = stream.read(limit if not compressed else 1 << 20)
    if compressed:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
    return raw


def _csv_header(fs: pafs.FileSystem, file: LandingFile, source: SourceConfig) -> tuple[str, ...]:
    text = _first_bytes(fs, file.uri, file.compressed).decode(source.encoding, errors="replace")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    row = next(csv.reader(io.StringIO(first), delimiter=source.csv.delimiter,
                          quotechar=source.csv.quote), [])
    return tuple(name.strip() for name in row)


def _is_json_array(fs: pafs.FileSystem, file: LandingFile) -> bool:
    head = _first_bytes(fs, file.uri, file.compressed, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _file_path_column() -> Column:
    """The landing file a row came from, as a plain path comparable to ``LandingFile.uri``."""
    # Spark reports a URI (percent-encoded); '+' is literal in it, so protect it from decoding.
    decoded = F.expr("reflect('java.net.URLDecoder', 'decode', "
                     "replace(input_file_name(), '+', '%2B'), 'UTF-8')")
    return F.regexp_replace(F.regexp_replace(decoded, r"^file:(//)?", ""), r"^s3a://", "s3://")


def _stored_columns(source: SourceConfig) -> list[str]:
    return [c.name for c in source.stored_layout]


def _read_csv_group(spark: SparkSession, source: SourceConfig, header: tuple[str, ...],
                    files: list[LandingFile]) -> DataFrame:
    # Each file is read by position against its own header, so files with a leading index column,
    # reordered, missing or extra columns all land in the same Bronze layout.
    names = [f"_c{i}" for i in range(len(header))]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in names] +
                          [T.StructField(CORRUPT, T.StringType())])
    reader = (spark.read.schema(schema)
              .option("header", source.csv.header)
              .option("enforceSchema", True)
              .option("sep", source.csv.delimiter)
              .option("quote", source.csv.quote)
              .option("escape", source.csv.escape)
              .option("encoding", source.java_encoding)
              .option("multiLine", source.csv.multiline)
              .option("mode", "PERMISSIVE")
              .option("columnNameOfCorruptRecord", CORRUPT)
              .option("ignoreLeadingWhiteSpace", False)
              .option("ignoreTrailingWhiteSpace", False))
    df = reader.csv([spark_path(f.uri) for f in files])
    position = {name: i for i, name in enumerate(header) if name}
    columns = [F.col(names[position[c]]).alias(bronze_column(c)) if c in position
               else F.lit(None).cast("string").alias(bronze_column(c))
               for c in _stored_columns(source)]
    return df.select(*columns, F.col(CORRUPT), _file_path_column().alias(SOURCE_FILE))


def _json_schema(source: SourceConfig) -> T.StructType:
    tree: dict = {}
    for name in _stored_columns(source):
        node = tree
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None

    def build(node: dict) -> T.StructType:
        return T.StructType([T.StructField(k, T.StringType() if v is None else build(v))
                             for k, v in node.items()])

    schema = build(tree)
    return schema.add(T.StructField(CORRUPT, T.StringType()))


def _read_json_group(spark: SparkSession, source: SourceConfig, multiline: bool,
                     files: list[LandingFile]) -> DataFrame:
    df = (spark.read.schema(_json_schema(source))
          .option("multiLine", multiline)
          .option("encoding", source.java_encoding)
          .option("lineSep", "\n")  # required by Spark for JSON lines in other encodings
          .option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", CORRUPT)
          .json([spark_path(f.uri) for f in files]))
    columns = [F.col(".".join(f"`{p}`" for p in c.split("."))).alias(bronze_column(c))
               for c in _stored_columns(source)]
    return df.select(*columns, F.col(CORRUPT), _file_path_column().alias(SOURCE_FILE))


@dataclass(frozen=True)
class RawBatch:
    """The rows of a batch of landing files, as text, plus what was noticed about each file."""

    frame: DataFrame
    notes: dict[str, str]  # relative path -> note (missing or unknown columns)


def _spark_reads_s3(spark: SparkSession) -> bool:
    """Glue reads s3:// natively; elsewhere Spark needs the S3A connector on its classpath."""
    from lakehouse.runtime.spark import running_on_glue

    if running_on_glue():
        return True
    try:
        spark._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")  # type: ignore[union-attr]
        return True
    except Exception:  # py4j wraps the ClassNotFoundException
        return False


def _readable_by_spark(spark: SparkSession, files: list[LandingFile]) -> list[LandingFile]:
    """Remote landing files as Spark can open them: as they are on Glue (or with S3A); else
    copied once into a local staging folder (removed when the process ends), so a laptop or
    CI can run against an S3 landing bucket. Their ``relative`` names are unchanged."""
    remote = [f for f in files if "://" in f.uri]
    if not remote or _spark_reads_s3(spark):
        return files
    staging = Path(tempfile.mkdtemp(prefix="lakehouse-landing-")).resolve()
    atexit.register(shutil.rmtree, staging, True)
    staged = []
    for file in files:
        if "://" not in file.uri:
            staged.append(file)
            continue
        fs, _ = _filesystem(file.uri)
        target = staging / file.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(_fs_path(file.uri), compression=None) as stream, \
                target.open("wb") as out:
            while block := stream.read(1 << 20):
                out.write(block)
        staged.append(replace(file, uri=str(target)))
    log.info("staged %d remote landing file(s) in %s", len(remote), staging)
    return staged


def read_raw(spark: SparkSession, source: SourceConfig, files: Iterable[LandingFile]) -> RawBatch:
    """All rows of ``files`` in the source's Bronze layout (text), with the landing-relative
    ``source_file`` and the file's ``landed_at``."""
    readable = [f for f in files if f.problem is None]
    if not readable:
        raise LandingError(f"{source.name}: no readable files in the batch")
    readable = _readable_by_spark(spark, readable)
    fs, _ = _filesystem(readable[0].uri if "://" in readable[0].uri else "/")
    notes: dict[str, str] = {}
    frames = []
    if source.format == "csv":
        groups: dict[tuple[str, ...], list[LandingFile]] = defaultdict(list)
        expected = set(_stored_columns(source))
        declared = {c.name for c in source.layout}
        for file in readable:
            header = (_csv_header(fs, file, source) if source.csv.header
                      else tuple(c.name for c in source.layout))
            groups[header].append(file)
            present = {h for h in header if h}
            missing = sorted(expected - present)
            unknown = sorted(present - declared)
            note = "; ".join(part for part in (
                f"missing columns {missing}" if missing else "",
                f"unknown columns not stored {unknown}" if unknown else "") if part)
            if note:
                notes[file.relative] = note
        for header, members in groups.items():
            frames.append(_read_csv_group(spark, source, header, members))
    else:
        by_shape: dict[bool, list[LandingFile]] = defaultdict(list)
        for file in readable:
            by_shape[_is_json_array(fs, file)].append(file)
        for multiline, members in by_shape.items():
            frames.append(_read_json_group(spark, source, multiline, members))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    # Map Spark's file path back to the landing-relative name recorded everywhere else.
    mapping = local_frame(spark, [(f.uri, f.relative, f.modified) for f in readable],
                          T.StructType([T.StructField("uri", T.StringType()),
                                        T.StructField("relative", T.StringType()),
                                        T.StructField(LANDED_AT, T.TimestampType())]))
    frame = (frame.join(F.broadcast(mapping), frame[SOURCE_FILE] == mapping["uri"], "left")
             .withColumn(SOURCE_FILE, F.coalesce("relative", SOURCE_FILE))
             .drop("uri", "relative"))
    return RawBatch(frame, notes)

