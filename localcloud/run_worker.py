"""Run one queued job of the local run store and record its progress and result there.

    python -m localcloud.run_worker --job-id ID [--env ENV_FILE] --local-root DIR

Started detached by the local submission backend; its stdout and stderr are the run's log. Runs on one local
root take turns: ML Metadata is a single SQLite file. A run that registered a version is followed, as on
Google Cloud, by that version's model tests and its auto-promotion where the environment promotes
automatically (release/promotion/announced.py); the record keeps what that did. Exit status: 0 the run
succeeded, 1 it failed, 2 the job cannot be run (unknown, or no longer queued).
"""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import re
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, cast

from contracts.config import EnvironmentConfig, load_pipeline_environment
from localcloud import run_store
from localcloud.run_store import ComponentStatus, RunRecord, RunStoreError

if TYPE_CHECKING:
    from pipelines.summary import RunSummary

# The progress lines pipelines.progress writes: "[   6.9s] Trainer ..." and "[  10.5s] Trainer done in 3.6s".
_STEP = re.compile(r"^\[\s*[\d.]+s\] (?P<node>\S+) (?:\.\.\.|done in (?P<seconds>[\d.]+)s)$")


class _NotRunnableError(Exception):
    """The job exists but is not queued: another worker has it, or it has ended."""


class _Terminated(BaseException):
    """SIGTERM: end like an exception, so the run is recorded as failed instead of vanishing."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localcloud.run_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--env", help="environment file (default: the one in the run's record)")
    parser.add_argument("--local-root", type=Path, required=True, help="the local root holding runs/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    root = args.local_root.resolve()
    try:
        record = _claim(root, args.job_id)
    except (RunStoreError, _NotRunnableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        env = args.env or record.env
        summary = _execute(root, record, env)
        result = _result(summary)
        if summary.succeeded and summary.pushed_version:
            config = load_pipeline_environment(env, record.pipeline or None)
            result["promotion"] = _after_registration(root, config, record.job_id, summary.pushed_version)
    except BaseException as err:  # Also SIGTERM and Ctrl-C: whatever ends the run is recorded.
        result = {"status": run_store.FAILED, "error": _describe(err)}
        print(f"run {record.job_id} failed: {result['error']}", file=sys.stderr, flush=True)
    run_store.update(root, record.job_id, ended_at=run_store.now(), **result)
    return 0 if result["status"] == run_store.SUCCEEDED else 1


def _after_registration(root: Path, config: EnvironmentConfig, job_id: str, version: str) -> str:
    """Test and auto-promote the version the run registered; what happened (a failure here is said, not raised)."""
    from release.promotion.announced import after_registration

    try:
        done = after_registration(config, root, version, by=f"run {job_id}")
    except Exception as err:  # The run succeeded: its record says what went wrong after it.
        done = f"not promoted: {_describe(err)}"
    print(f"version {version}: {done}", flush=True)
    return done


def _describe(err: BaseException) -> str:
    """An exception as one line: its type and message (SIGTERM: just the message)."""
    if isinstance(err, _Terminated) or not str(err):
        return str(err) or type(err).__name__
    return f"{type(err).__name__}: {err}"


def _claim(root: Path, job_id: str) -> RunRecord:
    """Record this process as the run's worker; the run must still be queued."""
    me, start_time = os.getpid(), run_store.process_start_time(os.getpid())

    def claim(record: RunRecord) -> bool:
        if record.status != run_store.QUEUED:
            return False
        record.pid, record.pid_start_time = me, start_time
        return True

    record = run_store.transact(root, job_id, claim)
    if record.status != run_store.QUEUED or record.pid != me:
        raise _NotRunnableError(f"run {job_id} is {record.status} (worker pid {record.pid}); not starting it again")
    return record


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated("terminated by SIGTERM")


@contextmanager
def pipeline_lock(root: Path) -> Iterator[None]:
    """One pipeline run at a time per local root; the run stays queued while it waits here."""
    path = run_store.runs_dir(root) / run_store.PIPELINE_LOCK
    with open(path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _execute(root: Path, record: RunRecord, env: str) -> RunSummary:
    """Load the environment, wait for the pipeline lock, and run the pipeline as `record` says."""
    config = load_pipeline_environment(env, record.pipeline or None)
    paths = config.local_paths(root)
    # TensorFlow reads these at import (the submitter sets them too; this covers a worker started by hand).
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pipelines import local

    with pipeline_lock(root):
        run_store.update(root, record.job_id, status=run_store.RUNNING, started_at=run_store.now())
        run = local.LocalRun(
            config=config,
            paths=paths,
            num_epochs=record.parameters.get("num_epochs", config.training.num_epochs),
            learning_rate=record.parameters.get("learning_rate", config.training.learning_rate),
            enable_cache=record.enable_caching,
            span_start=record.parameters.get("span_start", 0),
            span_end=record.parameters.get("span_end", 0),
            run_id=record.job_id,
            labels=dict(record.labels),
        )
        with _open_log(record) as log:
            progress = _ProgressLog(
                log, lambda node, status, seconds: _record_component(root, record.job_id, node, status, seconds)
            )
            summary: RunSummary = local.execute(run, out=cast(TextIO, progress))
            return summary


@contextmanager
def _open_log(record: RunRecord) -> Iterator[TextIO]:
    """The run's log, or stdout for a record without one."""
    if record.log_path is None:
        yield sys.stdout
        return
    sys.stdout.flush()
    with open(record.log_path, "a", buffering=1) as log:
        yield log


class _ProgressLog(io.TextIOBase):
    """The progress stream handed to `execute`: written to the run's log, and each component start and end is
    also recorded, so `runs_cli follow` shows components as they run (the summary replaces them at the end).

    It has no fileno on purpose: pipelines.progress then writes to it directly instead of duplicating the
    file descriptor, which keeps the parsing in this process's hands.
    """

    def __init__(self, log: TextIO, on_component: Callable[[str, str, float | None], None]) -> None:
        super().__init__()
        self._log = log
        self._on_component = on_component
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        self._log.flush()
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            step = _STEP.match(line)
            if step:
                seconds = step["seconds"]
                self._on_component(step["node"], "done" if seconds else "running", float(seconds) if seconds else None)
        return len(text)


def _record_component(root: Path, job_id: str, node_id: str, status: str, seconds: float | None) -> None:
    """Add or update one component line of the running record; a failure here must not fail the run."""

    def change(record: RunRecord) -> bool:
        for component in record.components:
            if component.node_id == node_id:
                component.status, component.seconds = status, seconds
                return True
        record.components.append(ComponentStatus(node_id, status, seconds))
        return True

    try:
        run_store.transact(root, job_id, change)
    except Exception as err:
        print(f"warning: could not record component {node_id}: {err}", file=sys.stderr, flush=True)


def _result(summary: RunSummary) -> dict[str, Any]:
    """The record fields for a finished pipeline run."""
    succeeded = summary.succeeded
    error = summary.error
    if not succeeded and error is None:
        unfinished = [f"{c.node_id} ({c.status})" for c in summary.components if c.status not in _DONE]
        error = f"components did not complete: {', '.join(unfinished)}"
    return {
        "status": run_store.SUCCEEDED if succeeded else run_store.FAILED,
        "components": [ComponentStatus(c.node_id, c.status, c.seconds) for c in summary.components],
        "metrics": dict(summary.metrics),
        "baseline_metrics": dict(summary.baseline_metrics),
        "blessed": summary.blessed,
        "validation_failures": list(summary.validation_failures),
        "pushed_version": summary.pushed_version,
        "pushed_path": summary.pushed_path,
        "pushed_by_this_run": summary.pushed_by_this_run,
        "promotion": summary.promotion,
        "error": error,
    }


_DONE = ("complete", "cached", "resolved")


if __name__ == "__main__":
    sys.exit(main())
