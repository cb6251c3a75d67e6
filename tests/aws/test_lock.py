"""The lake's lock on S3 (``S3LakeLock``), against moto in server mode: conditional writes over
real HTTP. One holder at a time, a clear refusal naming it, a live run's lease renewed, a killed
run's lease taken over once it ran out, and a second run that never touches the first one's
scratch files."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from lakehouse.aws.lock import S3LakeLock, describe_holder
from lakehouse.cli import main
from lakehouse.errors import LakehouseError, LakeLockedError
from lakehouse.io.lake import Lake
from lakehouse.pipeline.run import lake_lock
from tests.aws.conftest import client

SCRATCH = "bronze/_staging/run-a/silver-transactions-0123abcd/part-00000.parquet"


def lock(bucket: str, endpoint: str, holder: str, **lease: float) -> S3LakeLock:
    return S3LakeLock(f"s3://{bucket}/lake", client("s3", endpoint), holder=holder, **lease)


def keys(bucket: str, endpoint: str) -> set[str]:
    listed = client("s3", endpoint).list_objects_v2(Bucket=bucket)
    return {o["Key"] for o in listed.get("Contents", [])}


def test_one_holder_at_a_time_and_the_second_is_told_who(bucket, aws):
    first = lock(bucket, aws, "glue job bronze_to_silver run jr_1")
    first.acquire()
    assert keys(bucket, aws) == {"lake/_lock"}
    with pytest.raises(LakeLockedError, match=r"s3://.*/lake is in use by glue job "
                       r"bronze_to_silver run jr_1 \(its lease runs to .* UTC\); try again"):
        lock(bucket, aws, "laptop").acquire()
    first.release()
    assert keys(bucket, aws) == set(), "released: the lock object is gone"
    second = lock(bucket, aws, "laptop")
    second.acquire()  # free again
    second.release()


def test_of_runs_started_at_once_exactly_one_gets_the_lock(bucket, aws):
    start = threading.Barrier(4)
    won: list[str] = []
    refused: list[str] = []

    def contend(name: str) -> None:
        candidate = lock(bucket, aws, name)
        start.wait()
        try:
            candidate.acquire()
        except LakeLockedError as exc:
            refused.append(str(exc))
            return
        won.append(name)
        time.sleep(0.5)  # held while the others try
        candidate.release()

    threads = [threading.Thread(target=contend, args=(f"run {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1, (won, refused)
    assert len(refused) == 3 and all("is in use by" in r for r in refused)


def test_a_live_run_renews_its_lease_past_its_length(bucket, aws):
    holder = lock(bucket, aws, "long run", lease_s=3.0, renew_s=0.3)
    holder.acquire()
    time.sleep(4.5)  # longer than the lease: only the renewals keep it
    with pytest.raises(LakeLockedError, match="in use by long run"):
        lock(bucket, aws, "second", lease_s=3.0, renew_s=0.3).acquire()
    holder.release()
    assert holder.lost is None


def test_a_killed_runs_lease_is_taken_over_once_it_ran_out(bucket, aws):
    # a run killed while holding the lock: its object stays, and nothing renews it
    s3 = client("s3", aws)

    def killed(lease_s: float) -> None:
        s3.put_object(Bucket=bucket, Key="lake/_lock",
                      Body=json.dumps({"holder": "killed run", "lease_s": lease_s}).encode())

    killed(300.0)
    with pytest.raises(LakeLockedError, match="in use by killed run"):
        lock(bucket, aws, "too early", lease_s=30.0, renew_s=5.0).acquire()
    killed(1.0)  # the same, with a lease short enough to wait for
    successor = lock(bucket, aws, "successor", lease_s=1.0, renew_s=0.2)
    time.sleep(2.2)  # Last-Modified has a resolution of a second
    successor.acquire()
    assert successor.took_over == "killed run"
    body = json.loads(s3.get_object(Bucket=bucket, Key="lake/_lock")["Body"].read())
    assert body["holder"] == "successor"
    successor.release()


def test_an_unreadable_lock_object_still_holds_the_lake_until_its_lease_ran_out(bucket, aws):
    client("s3", aws).put_object(Bucket=bucket, Key="lake/_lock", Body=b"\x00 not json")
    with pytest.raises(LakeLockedError, match="in use by an unreadable lock object"):
        lock(bucket, aws, "reader").acquire()


def test_a_lock_lost_while_held_is_reported_and_not_deleted(bucket, aws):
    holder = lock(bucket, aws, "stalled run", lease_s=2.0, renew_s=0.3)
    holder.acquire()
    s3 = client("s3", aws)
    # another run took it over (as after a stall longer than the lease)
    s3.put_object(Bucket=bucket, Key="lake/_lock",
                  Body=json.dumps({"holder": "other run", "lease_s": 300}).encode())
    time.sleep(0.8)  # a renewal finds the object changed
    with pytest.raises(LakeLockedError, match="was lost while this run held it"):
        holder.release()
    body = json.loads(s3.get_object(Bucket=bucket, Key="lake/_lock")["Body"].read())
    assert body["holder"] == "other run", "the other run's lock is left alone"


def test_a_second_run_on_an_s3_lake_leaves_the_running_ones_scratch_alone(bucket, aws, capsys):
    """Before the lock, any run on an S3 lake began by removing every run's scratch folder:
    a second run (a local command, or the next Glue job) pulled the staged batch from under the
    first one. Now it is refused, and the scratch is removed only by the next holder."""
    s3 = client("s3", aws)
    s3.put_object(Bucket=bucket, Key=f"lake/{SCRATCH}", Body=b"staged by the running job")
    cli_lake = ["--env", "glue", "--lake", f"s3://{bucket}/lake"]
    running = lock(bucket, aws, "bronze_to_silver run jr_7")
    running.acquire()
    try:
        assert main(["-q", "vacuum", "--all", *cli_lake]) == 1
        assert "in use by bronze_to_silver run jr_7" in capsys.readouterr().err
        with pytest.raises(LakeLockedError), lake_lock(Lake.at(f"s3://{bucket}/lake")):
            pass
        assert f"lake/{SCRATCH}" in keys(bucket, aws), "the running job's scratch is intact"
    finally:
        running.release()
    with lake_lock(Lake.at(f"s3://{bucket}/lake")):  # the next holder clears killed runs' files
        assert f"lake/{SCRATCH}" not in keys(bucket, aws)
        assert "lake/_lock" in keys(bucket, aws)
    assert "lake/_lock" not in keys(bucket, aws)


def test_an_error_in_the_run_is_raised_and_the_lock_released(bucket, aws):
    with pytest.raises(RuntimeError, match="the run failed"), \
            lake_lock(Lake.at(f"s3://{bucket}/lake")):
        raise RuntimeError("the run failed")
    assert keys(bucket, aws) == set()


def test_other_object_stores_are_refused_rather_than_run_unlocked():
    with pytest.raises(LakehouseError, match="only local folders and s3:// lakes can be "
                       "locked"), lake_lock(Lake.at("gs://bucket/lake")):
        pass


def test_a_glue_job_names_itself_by_its_job_run(monkeypatch):
    monkeypatch.setattr("sys.argv", ["script.py", "--JOB_NAME", "lakehouse-bronze-to-silver",
                                     "--JOB_RUN_ID", "jr_0123abcd", "--lake_root", "s3://x"])
    assert describe_holder() == "lakehouse-bronze-to-silver run jr_0123abcd"
    monkeypatch.setattr("sys.argv", ["lakehouse", "vacuum", "--all"])
    assert describe_holder().startswith(f"pid {os.getpid()} on ")


def test_a_run_told_to_wait_takes_an_s3_lock_once_its_holder_releases_it(bucket, aws,
                                                                          monkeypatch):
    from lakehouse.pipeline import run

    monkeypatch.setattr(run, "_OBJECT_STORE_POLL_S", 0.2)
    holding = lock(bucket, aws, "glue job silver_to_gold run jr_9")
    holding.acquire()
    releaser = threading.Timer(1.0, holding.release)
    releaser.start()
    said: list[str] = []
    try:
        with lake_lock(Lake.at(f"s3://{bucket}/lake"), progress=said.append, wait_s=30):
            body = json.loads(client("s3", aws).get_object(
                Bucket=bucket, Key="lake/_lock")["Body"].read())
            assert body["holder"] != "glue job silver_to_gold run jr_9"
    finally:
        releaser.join()
    assert said == [f"lock: the lake s3://{bucket}/lake is in use by glue job silver_to_gold run "
                    "jr_9; waiting up to 30 s for it"]
