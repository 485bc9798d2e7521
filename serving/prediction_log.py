"""The local prediction log's writer: a sample of a server's requests and answers, appended off the request path.

A request thread only decides whether its request is sampled (`random.random() < rate`) and, if so, appends
the record to a bounded queue: no lock, no wake-up, no I/O, no serialization, and it never fails because of
the log. When the queue is full (the disk is slower than the traffic) the record is dropped and counted: the
log is a sample for the monitor, the answer is what matters. One daemon thread writes, every FLUSH_INTERVAL_S
while there is traffic (backing off to IDLE_INTERVAL_S without): it takes whatever is queued, serializes each
record (`LoggedRequest.to_line`) and appends whole lines to the record's hour file,
<folder>/<YYYYMMDD>/<HH>-<pid>.jsonl (contracts/prediction_log.py), flushing after each batch.

Why so (measured with `nox -s bench_serve`'s servers, every request logged, 2 CPUs, ~2,500 requests/s): the
writer's work holds the GIL the request threads need. Woken per record (a queue.Queue), it cost 17% of the
throughput and 27% on the p99; every 0.1 s, 4% and 13% (a batch of ~250 records is a few ms of GIL that the
requests caught in it wait out); every 0.01 s, within 1% of each (a batch fits in one GIL switch interval).

A write error (a full disk, a folder made unwritable) is counted and said once on stderr; the server goes on
answering.

The log holds the instances as sent: the features of a request, nothing of its headers.
"""

from __future__ import annotations

import random
import sys
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from contracts.prediction_log import LoggedRequest, local_log_file

# Records waiting for the writer. At a few hundred bytes each, a full queue is a few MB; at 2,000 logged
# requests a second it covers a 5 s stall of the disk before records are dropped.
DEFAULT_CAPACITY = 10_000
# How often the writer takes what is queued: a batch per interval, one write and flush per file. Short, so that
# a batch is small (see above); with nothing queued the wait doubles up to IDLE_INTERVAL_S, so an idle server's
# writer wakes a few times a second, not a hundred.
FLUSH_INTERVAL_S = 0.01
IDLE_INTERVAL_S = 0.2


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PredictionLogger:
    """Logs a sample (`rate`, 0..1) of one pipeline's requests under `folder` (`LocalPaths.predictions`).

    `sampled()` and `put(record)` are the request thread's half (`log(record)` is both); `now()` is the clock
    the server stamps records with (injected in tests). Counters: `logged` (written), `sampled_out` (not
    drawn by the sample), `dropped` (the queue was full, or the logger closed), `failed` (lost to a write
    error, or not serializable as JSON, e.g. a NaN feature).
    """

    def __init__(
        self,
        folder: Path,
        rate: float,
        clock: Callable[[], datetime] = utc_now,
        *,
        capacity: int = DEFAULT_CAPACITY,
        interval: float = FLUSH_INTERVAL_S,
        errors: IO[str] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a sample rate is in [0, 1], got {rate}")
        if capacity < 1 or not 0 < interval <= 60:
            raise ValueError(f"capacity {capacity} / interval {interval}: out of range")
        self.folder, self.rate, self.now = Path(folder), rate, clock
        self.capacity, self.interval = capacity, interval
        self.logged = self.dropped = self.sampled_out = self.failed = 0
        self._errors = errors  # None: sys.stderr at the time of the error (pytest's capture replaces it).
        self._reported = False
        self._closed = False
        self._lock = threading.Lock()  # The request threads' counters: `+=` is not atomic across threads.
        # deque.append and popleft are atomic: the request threads and the writer share it without a lock. The
        # bound is checked before appending, so concurrent senders may overshoot it by one record each.
        self._pending: deque[LoggedRequest] = deque()
        self._stop = threading.Event()
        self._files: dict[Path, IO[bytes]] = {}
        self._hour: tuple[datetime, datetime, Path] | None = None  # The last record's hour and its file.
        self._thread = threading.Thread(target=self._loop, name=f"prediction-log {self.folder.name}", daemon=True)
        self._thread.start()

    # The request thread's half: no I/O, no serialization, never raises.

    def sampled(self) -> bool:
        """Whether this request is in the sample (counted in `sampled_out` when not)."""
        if random.random() < self.rate:
            return True
        with self._lock:
            self.sampled_out += 1
        return False

    def put(self, record: LoggedRequest) -> bool:
        """Queue a sampled request's record for the writer; False (counted in `dropped`) if the queue is full."""
        if not self._closed and len(self._pending) < self.capacity:
            self._pending.append(record)
            return True
        with self._lock:
            self.dropped += 1
        return False

    def log(self, record: LoggedRequest) -> bool:
        """`record` if the sample draws it: True if queued."""
        return self.sampled() and self.put(record)

    def counts(self) -> dict[str, int]:
        return {"logged": self.logged, "dropped": self.dropped, "sampled_out": self.sampled_out, "failed": self.failed}

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, flush and close the files; later records are dropped. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():  # Else the writer is stuck (a hung disk): a daemon, left behind.
            with self._lock:
                self.dropped += len(self._pending)  # Queued by a request that raced past the close.
            self._pending.clear()

    # The writer thread's half.

    def _loop(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            wait = self.interval if self._batch() else min(2 * wait, max(self.interval, IDLE_INTERVAL_S))
        self._batch()  # close(): what is queued, then the files closed.
        self._close_files()

    def _batch(self) -> bool:
        """Write what is queued; whether there was anything."""
        records = self._take()
        if not records:
            return False
        try:
            self._write(records)
        except Exception as err:  # Whatever it is, the writer lives on: a dead one would drop every record.
            self.failed += len(records)
            self._report(f"a batch could not be written ({err!r})")
        return True

    def _take(self) -> list[LoggedRequest]:
        records = []
        while self._pending:
            records.append(self._pending.popleft())
        return records

    def _file_of(self, moment: datetime) -> Path:
        """The hour file of `moment`; the last one's is kept, since a batch's records are mostly of one hour."""
        hour = self._hour
        if hour is None or not hour[0] <= moment < hour[1]:
            start = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
            hour = self._hour = (start, start + timedelta(hours=1), local_log_file(self.folder, start))
        return hour[2]

    def _write(self, records: list[LoggedRequest]) -> None:
        lines: dict[Path, list[bytes]] = {}
        for record in records:
            try:
                lines.setdefault(self._file_of(record.time), []).append(record.to_line())
            except (TypeError, ValueError) as err:  # Not JSON (NaN, an odd type), a naive time: that record only.
                self.failed += 1
                self._report(f"a record could not be written as JSON ({err})")
        for path, chunk in lines.items():
            try:
                handle = self._files.get(path)
                if handle is None:
                    handle = self._open(path)
                handle.write(b"".join(chunk))
                handle.flush()
                self.logged += len(chunk)
            except OSError as err:
                self.failed += len(chunk)
                self._report(f"cannot write {path} ({err})")
                self._forget(path)  # Reopened on the next batch: the disk may have room again.
        if lines:
            # Keep the newest hour's file open (the paths differ in <YYYYMMDD>/<HH> only, so they sort by time);
            # an hour the requests have left behind is closed.
            newest = max(lines)
            for path in [path for path in self._files if path != newest]:
                self._forget(path)

    def _open(self, path: Path) -> IO[bytes]:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - kept open across batches until the hour changes
        try:
            # A line cut short (a write error, or an earlier process of this pid killed mid-line) ends here,
            # so the next record starts a line of its own instead of joining the partial one.
            if handle.seek(0, 2) > 0:
                handle.seek(-1, 2)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
        except OSError:
            handle.close()
            raise
        self._files[path] = handle
        return handle

    def _forget(self, path: Path) -> None:
        handle = self._files.pop(path, None)
        if handle is not None:
            try:
                handle.close()
            except OSError as err:
                self._report(f"cannot close {path} ({err})")

    def _close_files(self) -> None:
        for path in list(self._files):
            self._forget(path)

    def _report(self, message: str) -> None:
        if not self._reported:  # Once: a full disk would otherwise print a line per batch.
            self._reported = True
            print(
                f"prediction log {self.folder}: {message}; requests are still answered, their records are lost "
                "(counted as failed)",
                file=self._errors or sys.stderr,
                flush=True,
            )
