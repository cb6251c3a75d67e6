"""A moto server (server mode: real HTTP, real boto3 and PyAthena clients) for the AWS adapters.

The server runs once per test session; each test gets fresh buckets/databases by name, and the
AWS environment variables point every client (boto3, PyAthena, delta-rs) at it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` in its own process: clients that hold the GIL while they wait on the
    network (delta-rs's ``is_deltatable``) would deadlock an in-process server thread."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start (see {log.name})") from None
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)
    log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty AWS account; credentials and endpoint for every client (boto3, PyAthena,
    delta-rs, pyarrow)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                        "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint,
                        "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
                        "LAKEHOUSE_AWS_ENDPOINT": moto_endpoint,
                        "LAKEHOUSE_AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10)  # every test starts from an empty account
    return moto_endpoint


def client(service: str, endpoint: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@pytest.fixture
def bucket(aws: str) -> str:
    """A fresh, empty bucket."""
    name = f"lake-{uuid.uuid4().hex[:10]}"
    client("s3", aws).create_bucket(Bucket=name,
                                    CreateBucketConfiguration={"LocationConstraint": REGION})
    return name
