"""One run at a time per lake: a second run fails at once, cleanly, and the lake is untouched."""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time

import pytest

from lakehouse.config import load_settings
from lakehouse.errors import LakehouseError, LakeLockedError
from lakehouse.io.lake import Lake
from lakehouse.pipeline.bronze_to_silver import bronze_to_silver
from lakehouse.pipeline.run import lake_lock


def test_second_run_fails_while_the_lake_is_locked(tmp_path, spark):
    (tmp_path / "landing").mkdir()
    settings = load_settings(lake_root=str(tmp_path / "lake"),
                             landing_root=str(tmp_path / "landing"), environ={})
    with lake_lock(Lake.at(settings.lake_root)), \
            pytest.raises(LakeLockedError, match="is in use by pid"):
        bronze_to_silver(settings, spark=spark)
    assert bronze_to_silver(settings, spark=spark).nothing_new, "the next run succeeds"


def test_the_run_holding_the_lock_removes_what_killed_runs_staged(tmp_path):
    lake = Lake.at(tmp_path / "lake")
    left = tmp_path / "lake" / "bronze" / "_staging" / "run-killed" / "silver-x" / "part.parquet"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"scratch")
    table = tmp_path / "lake" / "bronze" / "things" / "part.parquet"  # not scratch: kept
    table.parent.mkdir(parents=True)
    table.write_bytes(b"data")
    with lake_lock(lake):
        assert not left.parent.parent.exists()
    assert table.exists()


@contextlib.contextmanager
def lock_taken_unnamed(tmp_path):
    """The lake's lock held by a run that has not yet written its pid into the lock file."""
    path = tmp_path / "lake" / "_lock"
    path.parent.mkdir(parents=True)
    with open(path, "a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield holder


def test_a_run_finding_the_lock_just_taken_names_its_holder(tmp_path):
    # the holder writes its pid right after taking the lock: a run that comes in between must
    # not report "another run" (seen once in the two-runs-at-once test)
    with lock_taken_unnamed(tmp_path) as holder:

        def name_itself() -> None:
            time.sleep(0.2)
            holder.write("pid 4242")
            holder.flush()

        writer = threading.Thread(target=name_itself)
        writer.start()
        try:
            with pytest.raises(LakeLockedError, match="is in use by pid 4242;"), \
                    lake_lock(Lake.at(tmp_path / "lake")):
                pass
        finally:
            writer.join()


def test_a_lock_whose_holder_never_names_itself_is_reported_as_another_run(tmp_path):
    with lock_taken_unnamed(tmp_path), \
            pytest.raises(LakeLockedError, match="is in use by another run;"), \
            lake_lock(Lake.at(tmp_path / "lake")):
        pass


def test_a_run_told_to_wait_takes_the_lock_once_its_holder_finishes(tmp_path):
    lake = Lake.at(tmp_path / "lake")
    holding, said = threading.Event(), []

    def hold() -> None:
        with lake_lock(lake):
            holding.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        with lake_lock(lake, progress=said.append, wait_s=30):
            assert not holder.is_alive(), "taken only once the holder let it go"
    finally:
        holder.join()
    assert len(said) == 1 and said[0].startswith(f"lock: the lake {lake.root} is in use by pid ")
    assert said[0].endswith("; waiting up to 30 s for it")


def test_a_run_waits_no_longer_than_told(tmp_path):
    lake = Lake.at(tmp_path / "lake")
    with lake_lock(lake):
        started = time.monotonic()
        with pytest.raises(LakeLockedError, match=r"in use by pid \d+; try again when it "
                           r"finishes \(waited 1.2 s\)"), lake_lock(lake, wait_s=1.2):
            pass
        assert time.monotonic() - started >= 1.2
        with pytest.raises(LakehouseError, match="--wait must be 0 or more"), \
                lake_lock(lake, wait_s=-1):
            pass


def test_the_wait_comes_from_the_command_line_or_the_environment(tmp_path, capsys):
    from lakehouse import cli

    lake = Lake.at(tmp_path / "lake")
    with lake_lock(lake):
        assert cli.main(["vacuum", "--all", "--wait", "0.6", "--lake", str(tmp_path / "lake")]) \
            == 1
        err = capsys.readouterr().err
        assert "waiting up to 0.6 s for it" in err and "(waited 0.6 s)" in err
    settings = load_settings(environ={"LAKEHOUSE_LOCK_WAIT": "45"})
    assert settings.lock_wait_s == 45
    assert load_settings(environ={}).lock_wait_s == 0
