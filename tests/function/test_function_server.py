"""The trigger function on the real functions-framework server (gunicorn, 2 workers), over HTTP on loopback.

The server runs the deployed archive, unzipped, with no repository on the path (the function_server fixture).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from contracts.run_request import RunRequest, job_id_for
from contracts.trigger_message import TriggerMessage
from tests.function import ARTICLE_MESSAGE, EVENT_MODES, SCHEDULER_MESSAGE, log_lines, pubsub_envelope, read_log

pytestmark = pytest.mark.server


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


def output_entries(function_server, predicate, timeout: float = 10.0) -> list[dict]:
    """The server's structured log lines that match, waiting a little for the workers' output to land."""
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in log_lines(function_server["output"].read_text()) if predicate(entry)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_articles_messages_over_http(function_server, mode):
    assert send(function_server["url"], ARTICLE_MESSAGE, f"http-{mode}", mode) == 200
    assert send(function_server["url"], SCHEDULER_MESSAGE, f"http-{mode}-scheduler", mode) == 200
    for message_id in (f"http-{mode}", f"http-{mode}-scheduler"):
        (line,) = lines_for(function_server["log"], message_id)
        assert line["job_id"] == job_id_for("pipeline", message_id)
        assert line["parameters"] == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
        TriggerMessage.model_validate(line["message"])
        RunRequest(line["job_id"], line["parameters"], line["labels"], line["enable_caching"])
    submitted = output_entries(
        function_server, lambda e: e.get("message_id") == f"http-{mode}" and e["severity"] == "INFO"
    )
    assert len(submitted) == 1 and submitted[0]["created"] is True


def test_a_bad_message_is_acknowledged_and_logged(function_server):
    assert send(function_server["url"], {"num_epochs": 3, "learning_rate": "inf"}, "http-bad", "binary") == 200
    assert send(function_server["url"], "not json", "http-not-json", "structured", raw=True) == 200
    assert (
        lines_for(function_server["log"], "http-bad") == [] and lines_for(function_server["log"], "http-not-json") == []
    )
    (refused,) = output_entries(function_server, lambda e: e.get("message_id") == "http-bad")
    assert refused["severity"] == "WARNING" and refused["field"] == "learning_rate"


def test_concurrent_redeliveries_across_workers_start_one_run_each(function_server):
    """16 concurrent deliveries (4 messages, 4 times each, both modes) over 2 workers: one line per message."""
    deliveries = [(f"http-dup-{i % 4}", "binary" if i % 2 else "structured") for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda d: send(function_server["url"], ARTICLE_MESSAGE, *d), deliveries))
    assert statuses == [200] * 16
    for i in range(4):
        assert len(lines_for(function_server["log"], f"http-dup-{i}")) == 1
    created = output_entries(
        function_server, lambda e: str(e.get("message_id", "")).startswith("http-dup-") and e.get("created")
    )
    assert len(created) == 4
