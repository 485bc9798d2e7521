"""The dry-run backend: one JSON line per new job id in a file (tests, load benchmarks, rehearsals)."""

from __future__ import annotations

import fcntl
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from submission import Submission

from contracts.run_request import Lineage, SubmitResult


@dataclass
class DryRunBackend:
    """Appends one JSON line per new job id to a file; a job id already in the file is not written again.

    Safe under concurrency: each call opens the file itself (O_APPEND) and holds an exclusive flock while it
    scans for the job id and appends. flock (not lockf/fcntl record locks, which are per process) excludes
    threads of one process as well as other processes (gunicorn workers) on the same file. Each process keeps
    the job ids it has read and, under the lock, reads only what was appended since (by anyone): a call costs
    the same with 10 or 100,000 lines in the log.
    """

    path: Path
    name: str = field(default="dry-run", init=False)

    def lineage(self) -> Lineage:
        return Lineage()  # No template, no code: nothing to label.

    def submit(self, submission: Submission) -> SubmitResult:
        request = submission.request
        entry = {
            "job_id": request.job_id,  # First: the scan reads job ids from the lines' opening bytes.
            "submitted_at": datetime.now(timezone.utc).isoformat(),
            "parameters": request.parameters,
            "labels": request.labels,
            "enable_caching": request.enable_caching,
            "message_id": submission.message_id,
            "message": submission.message.model_dump(mode="json", exclude_none=True),
        }
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            taken, at_line_start = _taken_job_ids(fd, os.fspath(self.path))
            created = request.job_id not in taken
            if created:
                if not at_line_start:
                    line = b"\n" + line  # A torn last line (a crash mid-write) stays on a line of its own.
                _write_all(fd, line)
                taken.add(request.job_id)
                _remember(fd, os.fspath(self.path), taken)
        finally:
            os.close(fd)  # Releases the lock.
        return SubmitResult(request.job_id, self.name, created, str(self.path))


# The job ids each dry-run log holds, as far as this process has read it: path -> (file identity, bytes read up
# to the end of the last whole line, job ids). Read and changed only under the file's flock.
_TAKEN: dict[str, tuple[tuple[int, int], int, set[str]]] = {}
_JOB_ID_AT_LINE_START = re.compile(rb'^\{"job_id":"([a-z0-9-]+)",', re.MULTILINE)


def _taken_job_ids(fd: int, key: str) -> tuple[set[str], bool]:
    """The job ids in the file, and whether it ends at a line start; reads only what is new since last time.

    A file replaced (another inode) or truncated is read again from the start.
    """
    stat = os.fstat(fd)
    identity = (stat.st_dev, stat.st_ino)
    known = _TAKEN.get(key)
    if known is not None and known[0] == identity and known[1] <= stat.st_size:
        offset, taken = known[1], known[2]
    else:
        offset, taken = 0, set()
    new = _read_from(fd, offset)
    # A torn last line counts too (its job id may be whole), but is read again next time.
    taken.update(match.decode() for match in _JOB_ID_AT_LINE_START.findall(new))
    whole = new.rfind(b"\n") + 1
    _TAKEN[key] = (identity, offset + whole, taken)
    at_line_start = not new or new.endswith(b"\n")
    return taken, at_line_start


def _remember(fd: int, key: str, taken: set[str]) -> None:
    """After an append under the lock: the file ends with a whole line, and everything in it has been read."""
    stat = os.fstat(fd)
    _TAKEN[key] = ((stat.st_dev, stat.st_ino), stat.st_size, taken)


def _read_from(fd: int, offset: int) -> bytes:
    chunks = []
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
