"""The local run store: atomic idempotent reservation, atomic updates, and dead workers found by refresh."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from localcloud import run_store
from localcloud.run_store import ComponentStatus, RunRecord, RunStoreError


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def sleeper():
    """A live process we own, killed at the end of the test."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def reserved(root, job_id="run-a", **fields):
    record, created = run_store.reserve(root, RunRecord(job_id=job_id, **fields))
    assert created
    return record


def test_reserve_writes_a_queued_record(tmp_path):
    record, created = run_store.reserve(tmp_path, RunRecord(job_id="run-a", parameters={"num_epochs": 5}))
    assert created
    assert run_store.load(tmp_path, "run-a") == record
    assert record.status == "queued"
    assert record.parameters == {"num_epochs": 5}
    assert datetime.fromisoformat(record.created_at).utcoffset() == timedelta(0)
    assert record.log_path == str(tmp_path / "runs" / "run-a" / "run.log")
    assert (tmp_path / "runs" / "run-a" / "record.json").is_file()


def test_reserving_a_taken_job_id_returns_the_existing_record(tmp_path):
    first = reserved(tmp_path, parameters={"num_epochs": 5})
    again, created = run_store.reserve(tmp_path, RunRecord(job_id="run-a", parameters={"num_epochs": 9}))
    assert not created
    assert again == first
    assert run_store.load(tmp_path, "run-a").parameters == {"num_epochs": 5}


def test_concurrent_reservations_of_one_job_id_create_it_once(tmp_path):
    def reserve(n):
        return run_store.reserve(tmp_path, RunRecord(job_id="run-a", parameters={"n": n}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(reserve, range(16)))
    assert sum(created for _, created in results) == 1
    winner = next(record for record, created in results if created)
    assert all(record == winner for record, _ in results)


def test_a_failed_write_leaves_the_previous_record_and_no_temporary_file(tmp_path, monkeypatch):
    reserved(tmp_path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(run_store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        run_store.update(tmp_path, "run-a", status="running")
    monkeypatch.undo()
    assert run_store.load(tmp_path, "run-a").status == "queued"
    assert sorted(p.name for p in (tmp_path / "runs" / "run-a").iterdir()) == [".lock", "record.json"]


def test_update_changes_only_the_given_fields(tmp_path):
    reserved(tmp_path, parameters={"num_epochs": 5})
    updated = run_store.update(tmp_path, "run-a", status="running", pid=42)
    assert run_store.load(tmp_path, "run-a") == updated
    assert (updated.status, updated.pid, updated.parameters) == ("running", 42, {"num_epochs": 5})
    with pytest.raises(TypeError, match="statsu"):
        run_store.update(tmp_path, "run-a", statsu="running")


def test_concurrent_updates_lose_nothing(tmp_path):
    reserved(tmp_path)

    def add(n):
        run_store.transact(tmp_path, "run-a", lambda r: r.components.append(ComponentStatus(f"c{n}", "done")) or True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, range(40)))
    assert sorted(c.node_id for c in run_store.load(tmp_path, "run-a").components) == sorted(f"c{n}" for n in range(40))


def test_components_survive_the_round_trip(tmp_path):
    reserved(tmp_path)
    run_store.update(tmp_path, "run-a", components=[ComponentStatus("Trainer", "complete", 3.5)], blessed=True)
    record = run_store.load(tmp_path, "run-a")
    assert record.components == [ComponentStatus("Trainer", "complete", 3.5)]
    assert record.blessed is True


@pytest.mark.parametrize("job_id", ["nope", "../runs", ".pipeline.lock", ""])
def test_loading_an_unknown_job_id_names_it(tmp_path, job_id):
    reserved(tmp_path)
    with pytest.raises(RunStoreError, match=f"unknown run {job_id!r}"):
        run_store.load(tmp_path, job_id)


def test_list_runs_newest_first_skipping_the_lock_and_unwritten_reservations(tmp_path):
    base = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for n, job_id in enumerate(["run-b", "run-a", "run-c"]):
        reserved(tmp_path, job_id, created_at=(base + timedelta(minutes=n)).isoformat())
    (tmp_path / "runs" / ".pipeline.lock").touch()
    (tmp_path / "runs" / "run-d").mkdir()  # Reserved a moment ago; its record is not written yet.
    assert [r.job_id for r in run_store.list_runs(tmp_path)] == ["run-c", "run-a", "run-b"]
    assert run_store.list_runs(tmp_path / "elsewhere") == []


def running(root, pid, start_time, job_id="run-a"):
    reserved(root, job_id)
    return run_store.update(root, job_id, status="running", pid=pid, pid_start_time=start_time)


def test_refresh_keeps_a_run_whose_worker_lives(tmp_path, sleeper):
    record = running(tmp_path, sleeper.pid, run_store.process_start_time(sleeper.pid))
    assert run_store.refresh(tmp_path, record) == record
    assert run_store.load(tmp_path, "run-a").status == "running"


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_refresh_fails_a_run_whose_worker_was_killed(tmp_path, reap):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = running(tmp_path, process.pid, run_store.process_start_time(process.pid))
    os.kill(process.pid, signal.SIGKILL)
    if reap:
        process.wait()
    else:  # Killed but not yet waited for by its parent (us): it still has a /proc entry.
        wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] == "Z")
    refreshed = run_store.refresh(tmp_path, record)
    process.wait()
    assert refreshed.status == "failed"
    assert f"worker process {process.pid} exited without recording a result" in refreshed.error
    assert refreshed.ended_at is not None
    assert run_store.load(tmp_path, "run-a") == refreshed


def test_refresh_detects_a_pid_now_used_by_another_process(tmp_path, sleeper):
    # The recorded worker had this pid but started at another time: the pid was reused.
    record = running(tmp_path, sleeper.pid, run_store.process_start_time(sleeper.pid) - 1)
    refreshed = run_store.refresh(tmp_path, record)
    assert refreshed.status == "failed"
    assert f"worker process {sleeper.pid} exited" in refreshed.error


def test_refresh_does_not_overwrite_a_result_recorded_meanwhile(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    stale = running(tmp_path, process.pid, run_store.process_start_time(process.pid))
    process.wait()
    run_store.update(tmp_path, "run-a", status="succeeded")  # The worker's last write, before it exited.
    assert run_store.refresh(tmp_path, stale).status == "succeeded"
    assert run_store.load(tmp_path, "run-a").status == "succeeded"


def test_refresh_fails_a_reservation_that_never_got_a_worker(tmp_path):
    fresh = reserved(tmp_path, "run-new")
    assert run_store.refresh(tmp_path, fresh).status == "queued"  # The submitter is still starting it.
    old = reserved(tmp_path, "run-old", created_at=(datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    refreshed = run_store.refresh(tmp_path, old)
    assert refreshed.status == "failed"
    assert "no worker process was recorded" in refreshed.error


def test_refresh_leaves_finished_runs_alone(tmp_path):
    reserved(tmp_path)
    record = run_store.update(tmp_path, "run-a", status="succeeded", pid=2**22 + 1)
    assert run_store.refresh(tmp_path, record) == record
