"""The lake's lock on S3: a lease object taken with a conditional write.

S3 has no advisory locks, but it has conditional writes: ``PutObject`` with ``If-None-Match: *``
creates an object only when none exists, and with ``If-Match: <etag>`` replaces it only when it
is still the version read. So the lock is the object ``<lake root>/_lock``:

- **taking it** creates the object, naming the holder (host, process, Glue job run);
- **holding it** renews the lease from a background thread (rewriting the object, if it is
  still ours, every ``renew_s``); a run that is killed stops renewing;
- **a lease that ran out** (no renewal for ``lease_s``: its holder was killed) is taken over,
  again conditionally, so that of two runs finding it stale only one gets it;
- **releasing it** deletes the object, if it is still ours.

Expiry is judged by S3's clock only (the object's ``Last-Modified`` against the ``Date`` of the
response that read it), so the clocks of the machines involved do not matter.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from lakehouse.aws import aws_error
from lakehouse.errors import LakehouseError, LakeLockedError

LOCK_NAME = "_lock"
LEASE_S = 300.0  # a killed run holds the lake for at most this long
RENEW_S = 60.0   # how often a live run renews its lease


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _conflict(exc: Exception) -> bool:
    """A conditional write lost: the object exists, changed, or another write is under way."""
    return _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def _missing(exc: Exception) -> bool:
    return _code(exc) in ("NoSuchKey", "404", "NotFound")


def describe_holder() -> str:
    """Who this process is, as another run will be told: the Glue job run when on Glue."""
    args = sys.argv
    if "--JOB_RUN_ID" in args[:-1]:
        name = args[args.index("--JOB_NAME") + 1] if "--JOB_NAME" in args[:-1] else "a Glue job"
        return f"{name} run {args[args.index('--JOB_RUN_ID') + 1]}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} ({user})"


@dataclass(frozen=True)
class _Seen:
    """The lock object as read: whose, its version, and when its lease runs out (S3's clock)."""

    holder: str
    etag: str
    expires: datetime
    now: datetime  # S3's time when it was read

    @property
    def stale(self) -> bool:
        return self.now >= self.expires


class S3LakeLock:
    """The lock of a lake at ``root`` (``s3://bucket/prefix``) through a boto3 S3 client."""

    def __init__(self, root: str, client: Any, *, lease_s: float = LEASE_S,
                 renew_s: float = RENEW_S, holder: str | None = None) -> None:
        if not root.startswith("s3://"):
            raise LakehouseError(f"not an S3 lake: {root}")
        if not 0 < renew_s < lease_s:
            raise LakehouseError(f"the lease must outlast its renewal ({renew_s} < {lease_s})")
        bucket, _, prefix = root[5:].partition("/")
        self.root = root
        self.bucket = bucket
        self.key = f"{prefix.strip('/')}/{LOCK_NAME}".lstrip("/")
        self.client = client
        self.lease_s = lease_s
        self.renew_s = renew_s
        self.holder = holder or describe_holder()
        self.took_over: str | None = None  # the holder whose stale lease was taken over
        self._etag: str | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._guard = threading.Lock()  # the etag, between the renewer and release

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _body(self) -> bytes:
        return json.dumps({"holder": self.holder, "lease_s": self.lease_s,
                           "written_at": datetime.now(UTC).isoformat()}).encode()

    def _put(self, **condition: str) -> str:
        response = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(),
                                          ContentType="application/json", **condition)
        return str(response["ETag"])

    def _read(self) -> _Seen | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        try:
            body = json.loads(response["Body"].read())
            holder, lease_s = str(body["holder"]), float(body["lease_s"])
        except (ValueError, KeyError, TypeError):
            holder, lease_s = "an unreadable lock object", self.lease_s
        modified: datetime = response["LastModified"]
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date) if date else datetime.now(UTC)
        return _Seen(holder, str(response["ETag"]), modified + timedelta(seconds=lease_s), now)

    def acquire(self) -> None:
        """Take the lock, or raise ``LakeLockedError`` naming its holder."""
        try:
            for _ in range(3):  # the object may vanish between a failed create and its read
                try:
                    self._etag = self._put(IfNoneMatch="*")
                    break
                except Exception as exc:
                    if not _conflict(exc):
                        raise
                seen = self._read()
                if seen is None:
                    continue  # released meanwhile: try to create it again
                if not seen.stale:
                    raise LakeLockedError(
                        f"the lake {self.root} is in use by {seen.holder} (its lease runs to "
                        f"{seen.expires:%Y-%m-%d %H:%M:%S} UTC); try again when it finishes",
                        seen.holder)
                try:
                    self._etag = self._put(IfMatch=seen.etag)
                except Exception as exc:
                    if not _conflict(exc):
                        raise
                    raise LakeLockedError(f"the lake {self.root} is in use by another run "
                                          "(it took the lock just now); try again when it "
                                          "finishes") from None
                self.took_over = seen.holder
                break
            else:
                raise LakeLockedError(f"the lake {self.root} is in use: its lock at {self.uri} "
                                      "keeps changing; try again")
        except LakehouseError:
            raise
        except Exception as exc:
            raise LakehouseError(aws_error(f"taking the lake lock {self.uri}", exc)) from None
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="lake-lock-lease",
                                         daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_s):
            with self._guard:
                if self._etag is None:
                    return
                try:
                    self._etag = self._put(IfMatch=self._etag)
                except Exception as exc:
                    if _conflict(exc) or _missing(exc):
                        self._lost = ("its lease ran out and another run took the lock, or the "
                                      "lock object was removed")
                        self._etag = None
                        return
                    # a network error: the lease still runs; the next renewal tries again

    @property
    def lost(self) -> str | None:
        """Why the lock is no longer ours, when it was lost while held."""
        return self._lost

    def release(self) -> None:
        """Stop renewing and delete the lock object, if it is still ours. Raises
        ``LakeLockedError`` when the lock was lost while held (another run may have written to
        the lake meanwhile)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        with self._guard:
            etag, self._etag = self._etag, None
        if etag is not None:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
            except Exception as exc:
                if _conflict(exc) or _missing(exc):
                    self._lost = "another run took the lock"
                else:
                    raise LakehouseError(aws_error(f"releasing the lake lock {self.uri}",
                                                   exc)) from None
        if self._lost:
            raise LakeLockedError(f"the lake lock {self.uri} was lost while this run held it: "
                                  f"{self._lost}; check the tables this run wrote "
                                  "('lakehouse history TABLE')")
