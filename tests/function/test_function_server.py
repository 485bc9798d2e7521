"""The trigger function on the real functions-framework server (gunicorn, 2 workers), over HTTP on loopback.

`trigger_message` comes from the function's folder, which tests/function/__init__.py puts on sys.path.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from trigger_message import TriggerMessage

from contracts.run_request import RunRequest
from contracts.run_request import job_id_for as pipeline_job_id_for
from tests.function import (
    ARTICLE_MESSAGE,
    EVENT_MODES,
    MAIN,
    SCHEDULER_MESSAGE,
    log_lines,
    pubsub_envelope,
    read_log,
)

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("functions-framework")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "functions_framework"]
    return [
        *launcher, "--target", "trigger_pipeline", "--source", str(MAIN), "--signature-type", "cloudevent",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # It answered (a GET is not a CloudEvent).
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """functions-framework serving main.py with the dry-run backend; always stopped at the end."""
    tmp = tmp_path_factory.mktemp("function-server")
    log, output = tmp / "dry-run.jsonl", tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRIGGER_BACKEND", "PIPELINE_NAME")}
    # The folder alone (no repository on the path), two gunicorn workers of four threads: like a deployment.
    env.update(TRIGGER_BACKEND="dry-run", DRY_RUN_LOG=str(log), WORKERS="2", THREADS="4", PYTHONUNBUFFERED="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            server_command(port), cwd=tmp, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the function server did not start:\n{output.read_text()[-3000:]}")
            time.sleep(0.1)
        yield {"url": url, "log": log, "output": output, "process": process}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # Its own session: the gunicorn workers too.
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def send(url: str, payload, message_id: str, mode: str, raw: bool = False) -> int:
    headers, body = EVENT_MODES[mode](pubsub_envelope(payload, message_id, raw=raw), message_id)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def lines_for(log: Path, message_id: str) -> list[dict]:
    return [line for line in read_log(log) if line["message_id"] == message_id]


def output_entries(server, predicate, timeout: float = 10.0) -> list[dict]:
    """The server's structured log lines that match, waiting a little for the workers' output to land."""
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in log_lines(server["output"].read_text()) if predicate(entry)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_articles_messages_over_http(server, mode):
    assert send(server["url"], ARTICLE_MESSAGE, f"http-{mode}", mode) == 200
    assert send(server["url"], SCHEDULER_MESSAGE, f"http-{mode}-scheduler", mode) == 200
    for message_id in (f"http-{mode}", f"http-{mode}-scheduler"):
        (line,) = lines_for(server["log"], message_id)
        assert line["job_id"] == pipeline_job_id_for("penguins", message_id)
        assert line["parameters"] == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
        TriggerMessage.model_validate(line["message"])
        RunRequest(line["job_id"], line["parameters"], line["labels"], line["enable_caching"])
    submitted = output_entries(server, lambda e: e.get("message_id") == f"http-{mode}" and e["severity"] == "INFO")
    assert len(submitted) == 1 and submitted[0]["created"] is True


def test_a_bad_message_is_acknowledged_and_logged(server):
    assert send(server["url"], {"num_epochs": 3, "learning_rate": "inf"}, "http-bad", "binary") == 200
    assert send(server["url"], "not json", "http-not-json", "structured", raw=True) == 200
    assert lines_for(server["log"], "http-bad") == [] and lines_for(server["log"], "http-not-json") == []
    (refused,) = output_entries(server, lambda e: e.get("message_id") == "http-bad")
    assert refused["severity"] == "WARNING" and refused["field"] == "learning_rate"


def test_concurrent_redeliveries_across_workers_start_one_run_each(server):
    """16 concurrent deliveries (4 messages, 4 times each, both modes) over 2 workers: one line per message."""
    deliveries = [(f"http-dup-{i % 4}", "binary" if i % 2 else "structured") for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda d: send(server["url"], ARTICLE_MESSAGE, *d), deliveries))
    assert statuses == [200] * 16
    for i in range(4):
        assert len(lines_for(server["log"], f"http-dup-{i}")) == 1
    created = output_entries(
        server, lambda e: str(e.get("message_id", "")).startswith("http-dup-") and e.get("created")
    )
    assert len(created) == 4
