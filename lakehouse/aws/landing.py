"""Landing files to S3: each file uploaded once, encrypted with the project's KMS key.

A file is skipped when the object at its key already carries the same sha256 (kept as object
metadata, since the ETag of an SSE-KMS object is not the file's MD5), so an upload can be
repeated after an interruption without sending everything again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.errors import LakehouseError

SHA256_METADATA = "sha256"


@dataclass(frozen=True)
class Upload:
    path: str      # relative to the local landing folder, = the key below the prefix
    key: str
    size: int
    action: str    # uploaded, unchanged


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise LakehouseError(f"not an s3:// location: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise LakehouseError(f"no bucket in {uri}")
    return bucket, prefix.strip("/")


def upload_landing(client: Any, folder: str | Path, target: str, kms_key_id: str | None,
                   progress: Callable[[str], None] = lambda _: None) -> list[Upload]:
    """Upload every file below ``folder`` (hidden files excepted) to ``target`` (s3://bucket/
    prefix), keeping the relative layout ``<source>/**`` the pipeline lists."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakehouse.aws import aws_error

    root = Path(folder)
    if not root.is_dir():
        raise LakehouseError(f"landing folder not found: {root}")
    bucket, prefix = split_s3_uri(target)
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    extra: dict[str, str] = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        extra["SSEKMSKeyId"] = kms_key_id
    done = []
    for index, path in enumerate(files, 1):
        relative = path.relative_to(root).as_posix()
        key = f"{prefix}/{relative}" if prefix else relative
        digest = _sha256(path)
        try:
            try:
                head = client.head_object(Bucket=bucket, Key=key)
                same = head.get("Metadata", {}).get(SHA256_METADATA) == digest
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey",
                                                                     "NotFound"):
                    raise
                same = False
            if not same:
                with path.open("rb") as body:
                    client.put_object(Bucket=bucket, Key=key, Body=body,
                                      Metadata={SHA256_METADATA: digest}, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise LakehouseError(aws_error(f"upload of {relative} to s3://{bucket}/{key}",
                                           exc)) from None
        done.append(Upload(relative, key, path.stat().st_size,
                           "unchanged" if same else "uploaded"))
        if index % 50 == 0 or index == len(files):
            progress(f"upload: {index}/{len(files)} file(s)")
    return done
