"""Landing on S3, against moto in server mode: uploads encrypted with the project's KMS key and
sent once, listing and fingerprinting from s3://, and a run that reads its landing there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakehouse.aws.landing import upload_landing
from lakehouse.cli import main
from lakehouse.config import load_settings
from lakehouse.generate import generate
from lakehouse.io.landing import fingerprint, list_landing
from tests.aws.conftest import client


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    generate(folder, customers=6, months=1, seed=11, defect_rate=0.05)
    return folder


@pytest.fixture
def kms_key(aws) -> str:
    return client("kms", aws).create_key(Description="lakehouse test")["KeyMetadata"]["Arn"]


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_upload_encrypts_every_file_with_the_key_and_sends_each_once(landing, bucket, kms_key,
                                                                    aws):
    s3 = client("s3", aws)
    done = upload_landing(s3, landing, f"s3://{bucket}/landing", kms_key)
    files = local_files(landing)
    assert {u.path for u in done} == set(files) and {u.action for u in done} == {"uploaded"}
    for relative, data in files.items():
        head = s3.head_object(Bucket=bucket, Key=f"landing/{relative}")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == kms_key
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        body = s3.get_object(Bucket=bucket, Key=f"landing/{relative}")["Body"].read()
        assert body == data

    again = upload_landing(s3, landing, f"s3://{bucket}/landing", kms_key)
    assert {u.action for u in again} == {"unchanged"}
    changed = sorted(files)[0]
    (landing / changed).write_bytes(files[changed] + b"")  # same bytes: still unchanged
    assert [u.path for u in upload_landing(s3, landing, f"s3://{bucket}/landing", kms_key)
            if u.action == "uploaded"] == []


def test_upload_command_and_its_errors(landing, bucket, kms_key, aws, capsys, tmp_path):
    assert main(["-q", "upload", str(landing), "--to", f"s3://{bucket}/in",
                 "--kms-key", kms_key]) == 0
    assert f"{len(local_files(landing))} file(s) uploaded to s3://{bucket}/in" in \
        capsys.readouterr().out
    assert main(["upload", str(tmp_path / "nope"), "--to", f"s3://{bucket}/in"]) == 1
    assert "landing folder not found" in capsys.readouterr().err
    assert main(["upload", str(landing), "--to", "s3://no-such-bucket-here/x"]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_landing_is_listed_and_fingerprinted_from_s3_like_a_local_folder(landing, bucket, aws):
    upload_landing(client("s3", aws), landing, f"s3://{bucket}/landing", None)
    settings = load_settings(environ={})
    for source in settings.sources.values():
        remote = list_landing(f"s3://{bucket}/landing", source)
        local = list_landing(str(landing), source)
        assert [e.relative for e in remote] == [e.relative for e in local]
        assert [e.size for e in remote] == [e.size for e in local]
        assert all(e.uri.startswith(f"s3://{bucket}/landing/") for e in remote)
        assert [fingerprint(source, e).content_hash for e in remote] == \
            [fingerprint(source, e).content_hash for e in local]


def content(frame) -> list[tuple]:
    """A table's rows as sorted text, without the columns that differ between runs."""
    drop = [c for c in frame.columns if c in ("ingest_run_id", "ingested_at", "run_id")]
    return sorted(frame.drop(columns=drop).astype(str).itertuples(index=False, name=None))


@pytest.mark.integration
def test_a_run_reads_its_landing_from_s3(landing, bucket, aws, spark, tmp_path):
    """Spark here has no S3 connector, so the files are staged locally; on Glue Spark reads
    s3:// itself. Either way Silver must equal a load of the same files from disk (Gold is built
    from Silver alone: the landing is read by Bronze -> Silver only)."""
    from lakehouse.pipeline.bronze_to_silver import bronze_to_silver

    upload_landing(client("s3", aws), landing, f"s3://{bucket}/landing", None)
    lenient = {"max_quarantine_rate": {"default": 1.0}}  # a tiny sample: defects are dense
    remote = load_settings(lake_root=str(tmp_path / "remote"), quality=lenient,
                           landing_root=f"s3://{bucket}/landing", environ={})
    local = load_settings(lake_root=str(tmp_path / "local"), landing_root=str(landing),
                          quality=lenient, environ={})
    assert not bronze_to_silver(remote, spark=spark).blocked
    assert not bronze_to_silver(local, spark=spark).blocked
    for table in ("silver/transactions", "silver/loans", "silver/customers",
                  "silver/transactions_quarantine", "silver/customers_history"):
        a = DeltaTable(str(tmp_path / "remote" / table)).to_pandas()
        b = DeltaTable(str(tmp_path / "local" / table)).to_pandas()
        assert len(a) > 0, table
        assert content(a) == content(b), table
    files = DeltaTable(str(tmp_path / "remote" / "ops" / "ingested_files")).to_pandas()
    assert files.path.str.startswith("transactions/").any()
    assert not files.path.str.contains("lakehouse-landing-").any(), "staging never leaks"
