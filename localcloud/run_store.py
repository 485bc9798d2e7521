"""The local run store: one folder per job id under `<local root>/runs/`, each holding `record.json`.

Every write goes to a temporary file in the same folder followed by `os.replace`, so a reader never sees a
half-written record. Read-modify-write updates hold an exclusive lock on the run's `.lock` file, so the
submitter (recording the worker's pid) and the worker (recording progress) cannot overwrite each other.
Reserving a job id is one `os.mkdir`: whoever creates the folder owns the job id.

Standard library only: the submitting side must stay light.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ACTIVE = (QUEUED, RUNNING)
RECORD = "record.json"
LOG = "run.log"
# Serialises pipeline runs on one local root (see run_worker); not a job folder.
PIPELINE_LOCK = ".pipeline.lock"
# How long a reserved run may have no worker pid before it is considered abandoned: the submitter records
# the pid milliseconds after the reservation, so this only fires when the submitter died in between.
NO_WORKER_GRACE_SECONDS = 30.0
# How long `reserve` waits for a concurrent submitter's record to appear in a folder it just created.
_RECORD_WAIT_SECONDS = 2.0
_PROC = Path("/proc")


class RunStoreError(Exception):
    """A job id is unknown or its record cannot be read; the message names the job id."""


@dataclass
class ComponentStatus:
    node_id: str
    status: str
    seconds: float | None = None


@dataclass
class RunRecord:
    job_id: str
    status: str = QUEUED
    parameters: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    enable_caching: bool = True
    # Path of the environment file the worker loads, and the pipeline of it the run is ("": its only one).
    env: str = ""
    pipeline: str = ""
    created_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    pid: int | None = None
    # The worker's start time in clock ticks since boot (/proc/<pid>/stat): tells a reused pid apart.
    pid_start_time: int | None = None
    components: list[ComponentStatus] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    blessed: bool | None = None
    validation_failures: list[str] = field(default_factory=list)
    pushed_version: str | None = None
    pushed_path: str | None = None
    # False when the push was cached or found the same files registered: an earlier run pushed the version.
    pushed_by_this_run: bool = False
    # What auto-promotion did with the pushed version: "champion", "not promoted: <why>", or None.
    promotion: str | None = None
    error: str | None = None
    log_path: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        # Ignore fields a newer writer may have added, rather than refusing to read the run.
        values = {k: v for k, v in data.items() if k in known}
        values["components"] = [ComponentStatus(**c) for c in values.get("components", [])]
        return cls(**values)


def now() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def runs_dir(root: Path) -> Path:
    return Path(root) / "runs"


def run_dir(root: Path, job_id: str) -> Path:
    return runs_dir(root) / job_id


def record_path(root: Path, job_id: str) -> Path:
    return run_dir(root, job_id) / RECORD


def _write(root: Path, record: RunRecord) -> None:
    """Write `record` atomically: a temporary file in the run's folder, then os.replace."""
    folder = run_dir(root, record.job_id)
    fd, tmp = tempfile.mkstemp(prefix=".record-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(record.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / RECORD)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reserve(root: Path, record: RunRecord) -> tuple[RunRecord, bool]:
    """Create the run `record.job_id` as queued; (record, True) if created, (existing record, False) if taken."""
    runs_dir(root).mkdir(parents=True, exist_ok=True)
    folder = run_dir(root, record.job_id)
    try:
        os.mkdir(folder)
    except FileExistsError:
        return _wait_for_record(root, record.job_id), False
    record.status = QUEUED
    record.created_at = record.created_at or now()
    record.log_path = str(folder / LOG)
    _write(root, record)
    return record, True


def _wait_for_record(root: Path, job_id: str) -> RunRecord:
    """The record of a job id another submitter has just reserved (it writes the record right after mkdir)."""
    deadline = time.monotonic() + _RECORD_WAIT_SECONDS
    while not record_path(root, job_id).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return load(root, job_id)


def load(root: Path, job_id: str) -> RunRecord:
    """The record of `job_id`; RunStoreError naming it if there is no such run."""
    if not job_id or job_id.startswith(".") or job_id != Path(job_id).name:
        raise RunStoreError(f"unknown run {job_id!r}: not a job id")  # Never a path out of the store.
    path = record_path(root, job_id)
    try:
        return RunRecord.from_json(path.read_text())
    except FileNotFoundError:
        if path.parent.is_dir():
            raise RunStoreError(f"run {job_id}: reserved but has no record (its submission was interrupted)") from None
        raise RunStoreError(f"unknown run {job_id!r}: no {path}") from None
    except (ValueError, TypeError) as err:
        raise RunStoreError(f"run {job_id}: unreadable record {path}: {err}") from err


def list_runs(root: Path) -> list[RunRecord]:
    """Every run with a record, newest first."""
    folder = runs_dir(root)
    if not folder.is_dir():
        return []
    records = []
    for entry in folder.iterdir():
        if entry.name.startswith(".") or not (entry / RECORD).is_file():
            continue  # The pipeline lock, or a reservation whose record is being written.
        records.append(load(root, entry.name))
    return sorted(records, key=lambda r: (r.created_at or "", r.job_id), reverse=True)


@contextmanager
def _locked(root: Path, job_id: str) -> Iterator[None]:
    """Hold the run's record lock: one read-modify-write at a time."""
    with open(run_dir(root, job_id) / ".lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def transact(root: Path, job_id: str, change: Callable[[RunRecord], bool]) -> RunRecord:
    """Load, let `change` edit the record in place, and write it back if `change` returns True; locked."""
    with _locked(root, job_id):
        record = load(root, job_id)
        if change(record):
            _write(root, record)
        return record


def update(root: Path, job_id: str, **changes: Any) -> RunRecord:
    """Set record fields atomically, e.g. update(root, job_id, status="running", started_at=now())."""
    known = {f.name for f in fields(RunRecord)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"unknown record field(s): {', '.join(unknown)}")

    def apply(record: RunRecord) -> bool:
        for name, value in changes.items():
            setattr(record, name, value)
        return True

    return transact(root, job_id, apply)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of process `pid`, or None if there is no such process."""
    if not _PROC.is_dir():
        return _stat_without_proc(pid)
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses; the fields after its last ')' do not.
    after_name = stat[stat.rindex(")") + 2 :].split()
    return after_name[0], int(after_name[19])  # Fields 3 and 22 of proc(5).


def _stat_without_proc(pid: int) -> tuple[str, int] | None:
    """Where there is no /proc (macOS): only whether `pid` exists; 0 stands for an unknown start time."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # It exists, owned by someone else.
    return "R", 0


def process_start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if there is no such process."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def worker_alive(record: RunRecord) -> bool:
    """True if the run's recorded worker process still runs and is the same process (not a reused pid).

    A zombie (exited, not yet reaped by its parent) counts as gone: it will never record anything.
    """
    if record.pid is None:
        return False
    stat = _proc_stat(record.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return record.pid_start_time is None or stat[1] == record.pid_start_time


def _age_seconds(timestamp: str | None) -> float:
    if timestamp is None:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(timestamp)).total_seconds()


def _why_dead(record: RunRecord) -> str | None:
    """Why an active record can no longer finish, or None if it still can."""
    if not record.active:
        return None
    if record.pid is None:
        if _age_seconds(record.created_at) < NO_WORKER_GRACE_SECONDS:
            return None  # The submitter is about to record the worker it just started.
        return "no worker process was recorded for this run (its submission stopped before starting one)"
    if worker_alive(record):
        return None
    return f"worker process {record.pid} exited without recording a result (log: {record.log_path})"


def refresh(root: Path, record: RunRecord) -> RunRecord:
    """`record`, marked failed if it is queued or running but its worker is gone (or its pid was reused)."""
    if _why_dead(record) is None:
        return record

    def mark_failed(current: RunRecord) -> bool:
        # Decided again on the stored record, under the lock: the worker may have recorded its result after
        # `record` was read, and a dead worker cannot write any more, so this second look is final.
        reason = _why_dead(current)
        if reason is None:
            return False
        current.status, current.error, current.ended_at = FAILED, reason, now()
        return True

    return transact(root, record.job_id, mark_failed)
