"""The dry-run backend: one line per job id, under threads, processes, torn lines and logs changed behind its back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from dry_run import DryRunBackend
from submission import submission_for

from contracts.run_request import Lineage, job_id_for
from contracts.trigger_message import parse_message
from tests.function import ARTICLE_MESSAGE, FUNCTION_DIR, REPO_ROOT, read_log

MESSAGE = parse_message(ARTICLE_MESSAGE)


def submission(message_id: str):
    return submission_for(MESSAGE, message_id, "penguins", Lineage())


def test_threads_racing_for_the_same_job_ids_write_each_once(tmp_path):
    """16 threads of one process submit the same 200 job ids in the same order (a per-process lock would fail)."""
    log = tmp_path / "dry-run.jsonl"
    backend = DryRunBackend(log)
    barrier = threading.Barrier(16)
    created = []

    def race() -> None:
        barrier.wait()
        created.extend(backend.submit(submission(f"t-{i}")).created for i in range(200))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    lines = read_log(log)
    assert len(lines) == 200 == len({line["job_id"] for line in lines})
    assert created.count(True) == 200 and len(created) == 16 * 200


CROSS_PROCESS = """
import os, sys, threading, time
sys.path[:0] = [{function_dir!r}, {repo_root!r}]
from contracts.run_request import Lineage
from contracts.trigger_message import parse_message
from dry_run import DryRunBackend
from submission import submission_for
backend = DryRunBackend(__import__("pathlib").Path({log!r}))
message = parse_message({message!r})
barrier = threading.Barrier(4)
open({ready!r} + str(os.getpid()), "w").close()
while not os.path.exists({go!r}):
    time.sleep(0.005)
def go():
    barrier.wait()
    for i in range(150):  # Every thread of every process races for each id in the same order.
        backend.submit(submission_for(message, f"m-{{i}}", "penguins", Lineage()))
threads = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def test_concurrent_processes_write_each_job_once(tmp_path):
    """Like gunicorn workers: 4 processes of 4 threads each race to submit the same 150 job ids: 150 lines."""
    log, go = tmp_path / "dry-run.jsonl", tmp_path / "go"
    code = CROSS_PROCESS.format(
        function_dir=str(FUNCTION_DIR),
        repo_root=str(REPO_ROOT),
        log=str(log),
        message=json.dumps(ARTICLE_MESSAGE),
        ready=str(tmp_path / "ready-"),
        go=str(go),
    )
    processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        assert [process.wait(timeout=120) for process in processes] == [0] * 4
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    lines = read_log(log)
    assert len({line["job_id"] for line in lines}) == 150
    assert len(lines) == 150


def test_a_torn_last_line_does_not_swallow_the_next(tmp_path):
    log = tmp_path / "dry-run.jsonl"
    log.write_text('{"job_id":"penguins-torn","subm')
    assert DryRunBackend(log).submit(submission("1")).created
    assert json.loads(log.read_text().splitlines()[-1])["message_id"] == "1"


def test_the_dry_run_log_is_read_again_when_changed_behind_its_back(tmp_path):
    """Lines appended by others are seen; a log replaced or truncated is read again from the start."""
    log = tmp_path / "dry-run.jsonl"
    backend = DryRunBackend(log)

    def submit(message_id: str) -> bool:
        return backend.submit(submission(message_id)).created

    assert submit("a") and not submit("a")
    other = job_id_for("penguins", "b")
    with open(log, "a") as handle:  # Another writer (a gunicorn worker) took "b".
        handle.write(json.dumps({"job_id": other, "message_id": "b"}, separators=(",", ":")) + "\n")
    assert not submit("b")
    log.unlink()  # Replaced: a new file knows no job.
    assert submit("a")
    log.write_text("")  # Truncated in place.
    assert submit("a") and [line["message_id"] for line in read_log(log)] == ["a"]
