"""The trigger function through functions-framework's app and Flask's test client: CloudEvents in both modes."""

from __future__ import annotations

import threading

import pytest

from contracts.run_request import RunRequest, job_id_for
from contracts.trigger_message import TriggerMessage
from tests.function import (
    ARTICLE_MESSAGE,
    EVENT_MODES,
    SCHEDULER_MESSAGE,
    binary_event,
    log_lines,
    post,
    pubsub_envelope,
    read_log,
    structured_event,
)


def function_logs(capsys):
    return log_lines(capsys.readouterr().out)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_articles_message_starts_one_run(client, dry_run, capsys, mode):
    response = post(client, ARTICLE_MESSAGE, "4242424242", mode)
    assert response.status_code == 200
    (line,) = read_log(dry_run)
    assert line["job_id"] == job_id_for("pipeline", "4242424242")
    assert line["parameters"] == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    assert type(line["parameters"]["num_epochs"]) is int and type(line["parameters"]["learning_rate"]) is float
    # The dry-run backend knows no template or code: the lineage labels it cannot know are left out.
    assert line["labels"] == {"source": "pubsub", "trigger": "4242424242", "spans": "newest"}
    assert line["enable_caching"] is True
    assert line["message_id"] == "4242424242"
    RunRequest(job_id=line["job_id"], parameters=line["parameters"], labels=line["labels"])
    (entry,) = function_logs(capsys)
    assert entry["severity"] == "INFO"
    assert entry["job_id"] == line["job_id"] and entry["created"] is True and entry["backend"] == "dry-run"


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_schedulers_string_message_is_converted(client, dry_run, mode):
    response = post(client, SCHEDULER_MESSAGE, "77", mode)
    assert response.status_code == 200
    (line,) = read_log(dry_run)
    assert line["parameters"]["num_epochs"] == 3 and type(line["parameters"]["num_epochs"]) is int
    assert line["parameters"]["learning_rate"] == 0.01


def test_every_field_reaches_the_run(client, dry_run, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "penguins-dev")
    message = {
        "schema_version": 1, "num_epochs": "12", "learning_rate": 0.25, "span_start": 7, "span_end": "7",
        "enable_caching": False, "source": "cloud-scheduler", "idempotency_key": "weekly:2024-06-03",
    }  # fmt: skip
    assert post(client, message, "Msg.ID/9", "structured").status_code == 200
    (line,) = read_log(dry_run)
    assert line["job_id"] == job_id_for("penguins-dev", "weekly:2024-06-03")
    assert line["parameters"] == {"num_epochs": 12, "learning_rate": 0.25, "span_start": 7, "span_end": 7}
    assert line["labels"] == {"source": "cloud-scheduler", "trigger": "msg-id-9", "spans": "7-7"}
    assert line["enable_caching"] is False
    assert TriggerMessage.model_validate(line["message"]).idempotency_key == "weekly:2024-06-03"


def test_attributes_carry_source_and_idempotency_key(client, dry_run):
    attributes = {"source": "scheduler", "idempotency_key": "nightly-1", "googclient_x": "ignored"}
    assert post(client, ARTICLE_MESSAGE, "1", attributes=attributes).status_code == 200
    assert post(client, ARTICLE_MESSAGE, "2", attributes=attributes).status_code == 200
    (line,) = read_log(dry_run)
    assert line["job_id"] == job_id_for("pipeline", "nightly-1")
    assert line["labels"]["source"] == "scheduler"


SECRET = "hunter2-do-not-log-me"
BAD_MESSAGES = [
    pytest.param({**ARTICLE_MESSAGE, "password": SECRET}, "password", id="unknown-field"),
    pytest.param({"num_epochs": "three", "learning_rate": 0.01}, "num_epochs", id="wrong-type"),
    pytest.param({"num_epochs": "3.5", "learning_rate": 0.01}, "num_epochs", id="not-whole"),
    pytest.param({"num_epochs": 3, "learning_rate": 2}, "learning_rate", id="out-of-range"),
    pytest.param({"num_epochs": 1001, "learning_rate": 0.1}, "num_epochs", id="epochs-out-of-range"),
    pytest.param({"num_epochs": 3, "learning_rate": "nan"}, "learning_rate", id="nan-string"),
    pytest.param({"num_epochs": 3, "learning_rate": float("inf")}, "learning_rate", id="infinity"),
    pytest.param({"num_epochs": True, "learning_rate": 0.1}, "num_epochs", id="boolean"),
    pytest.param({"num_epochs": None, "learning_rate": 0.1}, "num_epochs", id="null"),
    pytest.param({"learning_rate": 0.1}, "num_epochs", id="missing"),
    pytest.param({**ARTICLE_MESSAGE, "idempotency_key": f"has space {SECRET}"}, "idempotency_key", id="bad-key"),
    pytest.param({**ARTICLE_MESSAGE, "span_start": 3, "span_end": 103}, "span_end", id="span-window-too-long"),
    pytest.param({**ARTICLE_MESSAGE, "span_start": 3}, "span_end", id="span-start-only"),
    pytest.param({**ARTICLE_MESSAGE, "schema_version": 2}, "schema_version", id="future-version"),
    pytest.param({**ARTICLE_MESSAGE, "pipeline": f"Pen guins {SECRET}"}, "pipeline", id="bad-pipeline-name"),
    pytest.param({**ARTICLE_MESSAGE, "pipeline": 7}, "pipeline", id="pipeline-not-a-string"),
    pytest.param([3, 0.01], "message", id="non-object"),
    pytest.param(f"not json {SECRET}", "message", id="non-json"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_MESSAGES)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_bad_messages_are_acknowledged_logged_once_and_not_submitted(client, dry_run, capsys, payload, field, mode):
    raw = isinstance(payload, str)
    response = post(client, payload, "1234", mode, raw=raw)
    assert 200 <= response.status_code < 300  # Acknowledged: Pub/Sub does not redeliver it.
    assert read_log(dry_run) == []
    output = capsys.readouterr().out
    (entry,) = log_lines(output)
    assert entry["severity"] == "WARNING" and entry["event"] == "refused"
    assert entry["field"] == field and entry["reason"] and field in entry["message"]
    assert entry["message_id"] == "1234"
    assert SECRET not in output


ENVELOPES = [
    pytest.param({"subscription": "s"}, "message", id="no-message"),
    pytest.param({"message": "hello"}, "message", id="message-not-object"),
    pytest.param("plain text", "message", id="not-an-envelope"),
    pytest.param({"message": {"messageId": "1"}}, "message.data", id="no-data"),
    pytest.param({"message": {"messageId": "1", "data": "%%%not base64"}}, "message.data", id="bad-base64"),
    pytest.param({"message": {"messageId": "1", "data": 12}}, "message.data", id="data-not-string"),
    pytest.param({"message": {"messageId": "1", "data": "e30=", "attributes": [1]}}, "message.attributes"),
    pytest.param({"message": {"messageId": "1", "data": "e30=", "attributes": {"a": 1}}}, "message.attributes"),
    pytest.param({"message": {"messageId": "x" * 300, "data": "e30="}}, "message.messageId", id="long-id"),
    pytest.param({"message": {"messageId": "1", "data": "A" * 90_000}}, "message", id="too-large"),
]


@pytest.mark.parametrize(("envelope", "field"), ENVELOPES)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_events_that_are_not_pubsub_messages_are_acknowledged(client, dry_run, capsys, envelope, field, mode):
    response = post(client, None, "55", mode, envelope=envelope)
    assert 200 <= response.status_code < 300
    assert read_log(dry_run) == []
    (entry,) = function_logs(capsys)
    assert entry["severity"] == "WARNING" and entry["field"] == field


def test_the_message_id_comes_from_message_id_or_the_event_id(client, dry_run):
    envelope = pubsub_envelope(ARTICLE_MESSAGE, "unused")
    del envelope["message"]["messageId"]
    envelope["message"]["message_id"] = "snake-1"
    headers, body = binary_event(envelope, "event-9")
    assert client.post("/", headers=headers, data=body).status_code == 200
    del envelope["message"]["message_id"]
    headers, body = structured_event(envelope, "event-9")
    assert client.post("/", headers=headers, data=body).status_code == 200
    assert [line["message_id"] for line in read_log(dry_run)] == ["snake-1", "event-9"]


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_redelivered_message_starts_one_run(client, dry_run, capsys, mode):
    assert post(client, ARTICLE_MESSAGE, "808", mode).status_code == 200
    assert post(client, ARTICLE_MESSAGE, "808", "structured" if mode == "binary" else "binary").status_code == 200
    assert len(read_log(dry_run)) == 1
    first, second = function_logs(capsys)
    assert first["created"] is True and second["created"] is False
    assert first["job_id"] == second["job_id"]


def test_one_idempotency_key_starts_one_run_whatever_the_message_ids(client, dry_run):
    message = {**ARTICLE_MESSAGE, "idempotency_key": "release-2024-06-03"}
    for message_id in ("1", "2", "3"):
        assert post(client, message, message_id).status_code == 200
    assert len(read_log(dry_run)) == 1
    # Different message ids without a key are different runs.
    assert post(client, ARTICLE_MESSAGE, "4").status_code == 200
    assert post(client, ARTICLE_MESSAGE, "5").status_code == 200
    assert len(read_log(dry_run)) == 3


def test_concurrent_requests_with_threads_write_each_job_once(app, dry_run):
    """16 concurrent deliveries of 4 messages (each 4 times), one client per thread: 4 lines, no torn line."""
    barrier = threading.Barrier(16)
    statuses = []

    def deliver(index: int) -> None:
        client = app.test_client()
        message_id = f"concurrent-{index % 4}"
        headers, body = EVENT_MODES["binary" if index % 2 else "structured"](
            pubsub_envelope(ARTICLE_MESSAGE, message_id), message_id
        )
        barrier.wait()
        statuses.append(client.post("/", headers=headers, data=body).status_code)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 16
    lines = read_log(dry_run)
    assert sorted(line["message_id"] for line in lines) == [f"concurrent-{i}" for i in range(4)]


def test_an_unwritable_dry_run_log_is_retried(client, dry_run, monkeypatch, capsys, tmp_path):
    missing = tmp_path / "not-yet" / "dry-run.jsonl"
    monkeypatch.setenv("DRY_RUN_LOG", str(missing))
    response = post(client, ARTICLE_MESSAGE, "999")
    assert response.status_code >= 500  # Pub/Sub redelivers it.
    (entry,) = function_logs(capsys)
    assert entry["severity"] == "ERROR" and entry["message_id"] == "999" and entry["error"] == "FileNotFoundError"
    # The redelivery, once the folder exists, starts the run.
    missing.parent.mkdir()
    assert post(client, ARTICLE_MESSAGE, "999").status_code == 200
    assert len(read_log(missing)) == 1


def test_a_failing_backend_is_retried(client, dry_run, monkeypatch):
    import dry_run as dry_run_module

    class UnavailableError(Exception):
        pass

    def fail(self, submission):
        raise UnavailableError("the backend is down")

    monkeypatch.setattr(dry_run_module.DryRunBackend, "submit", fail)
    assert post(client, ARTICLE_MESSAGE, "1000").status_code >= 500
    assert read_log(dry_run) == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TRIGGER_BACKEND"),
        ({"TRIGGER_BACKEND": "cloud"}, "TRIGGER_BACKEND"),
        ({"TRIGGER_BACKEND": "dry-run"}, "DRY_RUN_LOG"),
        ({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/tmp/x", "PIPELINE_NAME": "Penguins!"}, "PIPELINE_NAME"),
        ({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/tmp/x", "PIPELINE": "pen-guins"}, "PIPELINE"),
        ({"TRIGGER_BACKEND": "vertex", "TEMPLATE_URI": "/t.json"}, "PROJECT, REGION, PIPELINE_ROOT, SERVICE_ACCOUNT"),
    ],
)
def test_bad_settings_are_named_and_retried(client, clean_env, capsys, env, variable):
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert post(client, ARTICLE_MESSAGE, "1").status_code >= 500
    (entry,) = function_logs(capsys)
    assert entry["severity"] == "ERROR" and entry["event"] == "retry" and variable in entry["message"]


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_message_names_its_pipeline_and_a_function_runs_only_its_own(client, dry_run, clean_env, capsys, mode):
    """The function runs the pipeline PIPELINE names (infra sets it): a message for it, or naming none, starts
    a run; a message for another pipeline is acknowledged, logged naming the field, and starts nothing."""
    clean_env.setenv("PIPELINE", "penguins")
    assert post(client, {**ARTICLE_MESSAGE, "pipeline": "diabetes"}, "1", mode).status_code == 200
    assert read_log(dry_run) == []
    (entry,) = function_logs(capsys)
    assert entry["event"] == "refused" and entry["field"] == "pipeline"
    assert "for pipeline 'diabetes'; this function runs 'penguins'" in entry["reason"]

    assert post(client, {**ARTICLE_MESSAGE, "pipeline": "penguins"}, "2", mode).status_code == 200
    assert post(client, ARTICLE_MESSAGE, "3", mode).status_code == 200
    assert [line["message_id"] for line in read_log(dry_run)] == ["2", "3"]
    assert TriggerMessage.model_validate(read_log(dry_run)[0]["message"]).pipeline == "penguins"
