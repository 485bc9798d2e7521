"""The trigger function through functions-framework's app and Flask's test client: CloudEvents in both modes.

`trigger_message` comes from the function's folder, which tests/function/__init__.py puts on sys.path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import functions_framework
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trigger_message import TriggerMessage

from contracts.run_request import RunRequest
from contracts.run_request import job_id_for as pipeline_job_id_for
from tests.function import (
    ARTICLE_MESSAGE,
    EVENT_MODES,
    FUNCTION_DIR,
    MAIN,
    REPO_ROOT,
    SCHEDULER_MESSAGE,
    binary_event,
    log_lines,
    pubsub_envelope,
    read_log,
    structured_event,
)

GOLDEN_TEMPLATE = REPO_ROOT / "tests" / "golden" / "vertex_pipeline_dev.json"
FUNCTION_ENV = (
    "TRIGGER_BACKEND", "DRY_RUN_LOG", "PIPELINE_NAME", "TEMPLATE_URI", "PROJECT", "REGION", "PIPELINE_ROOT",
    "SERVICE_ACCOUNT", "NETWORK", "LOCAL_ENV_FILE", "LOCAL_ROOT",
)  # fmt: skip


@pytest.fixture(scope="module")
def app():
    return functions_framework.create_app(target="trigger_pipeline", source=str(MAIN), signature_type="cloudevent")


@pytest.fixture(scope="module")
def main(app):
    """The function's module as functions-framework loaded it (to reach its backends and helpers)."""
    return sys.modules["main"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dry_run(tmp_path, monkeypatch):
    """The dry-run backend and nothing else: the log path."""
    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    log = tmp_path / "dry-run.jsonl"
    monkeypatch.setenv("TRIGGER_BACKEND", "dry-run")
    monkeypatch.setenv("DRY_RUN_LOG", str(log))
    return log


def post(client, payload, message_id, mode="binary", attributes=None, raw=False, envelope=None):
    envelope = pubsub_envelope(payload, message_id, attributes, raw=raw) if envelope is None else envelope
    headers, body = EVENT_MODES[mode](envelope, message_id)
    return client.post("/", headers=headers, data=body)


def function_logs(capsys):
    return log_lines(capsys.readouterr().out)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_articles_message_starts_one_run(client, dry_run, capsys, mode):
    response = post(client, ARTICLE_MESSAGE, "4242424242", mode)
    assert response.status_code == 200
    (line,) = read_log(dry_run)
    assert line["job_id"] == pipeline_job_id_for("penguins", "4242424242")
    assert line["parameters"] == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    assert type(line["parameters"]["num_epochs"]) is int and type(line["parameters"]["learning_rate"]) is float
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
    assert line["job_id"] == pipeline_job_id_for("penguins-dev", "weekly:2024-06-03")
    assert line["parameters"] == {"num_epochs": 12, "learning_rate": 0.25, "span_start": 7, "span_end": 7}
    assert line["labels"] == {"source": "cloud-scheduler", "trigger": "msg-id-9", "spans": "7-7"}
    assert line["enable_caching"] is False
    assert TriggerMessage.model_validate(line["message"]).idempotency_key == "weekly:2024-06-03"


def test_attributes_carry_source_and_idempotency_key(client, dry_run):
    attributes = {"source": "scheduler", "idempotency_key": "nightly-1", "googclient_x": "ignored"}
    assert post(client, ARTICLE_MESSAGE, "1", attributes=attributes).status_code == 200
    assert post(client, ARTICLE_MESSAGE, "2", attributes=attributes).status_code == 200
    (line,) = read_log(dry_run)
    assert line["job_id"] == pipeline_job_id_for("penguins", "nightly-1")
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
    pytest.param({**ARTICLE_MESSAGE, "span_start": 3, "span_end": 5}, "span_end", id="span-window"),
    pytest.param({**ARTICLE_MESSAGE, "span_start": 3}, "span_end", id="span-start-only"),
    pytest.param({**ARTICLE_MESSAGE, "schema_version": 2}, "schema_version", id="future-version"),
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
    assert entry["severity"] == "WARNING"
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


def test_threads_racing_for_the_same_job_ids_write_each_once(main, tmp_path):
    """16 threads of one process submit the same 200 job ids in the same order (a per-process lock would fail)."""
    log = tmp_path / "dry-run.jsonl"
    backend = main.DryRunBackend(log)
    message = main.parse_message(ARTICLE_MESSAGE)
    barrier = threading.Barrier(16)
    created = []

    def race() -> None:
        barrier.wait()
        created.extend(backend.submit(main.submission_for(message, f"t-{i}", "penguins")).created for i in range(200))

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
sys.path.insert(0, {function_dir!r})
import main
from trigger_message import parse_message
backend = main.DryRunBackend(main.Path({log!r}))
message = parse_message({message!r})
barrier = threading.Barrier(4)
open({ready!r} + str(os.getpid()), "w").close()
while not os.path.exists({go!r}):
    time.sleep(0.005)
def go():
    barrier.wait()
    for i in range(150):  # Every thread of every process races for each id in the same order.
        backend.submit(main.submission_for(message, f"m-{{i}}", "penguins"))
threads = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def test_concurrent_processes_write_each_job_once(tmp_path):
    """Like gunicorn workers: 4 processes of 4 threads each race to submit the same 150 job ids: 150 lines."""
    log, go = tmp_path / "dry-run.jsonl", tmp_path / "go"
    code = CROSS_PROCESS.format(
        function_dir=str(FUNCTION_DIR),
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


def test_a_torn_last_line_does_not_swallow_the_next(main, tmp_path):
    log = tmp_path / "dry-run.jsonl"
    log.write_text('{"job_id":"penguins-torn","subm')
    backend = main.DryRunBackend(log)
    message = main.parse_message(ARTICLE_MESSAGE)
    assert backend.submit(main.submission_for(message, "1", "penguins")).created
    assert json.loads(log.read_text().splitlines()[-1])["message_id"] == "1"


def test_the_dry_run_log_is_read_again_when_changed_behind_its_back(main, tmp_path):
    """Lines appended by others are seen; a log replaced or truncated is read again from the start."""
    log = tmp_path / "dry-run.jsonl"
    backend = main.DryRunBackend(log)
    message = main.parse_message(ARTICLE_MESSAGE)

    def submit(message_id: str) -> bool:
        return backend.submit(main.submission_for(message, message_id, "penguins")).created

    assert submit("a") and not submit("a")
    other = main.job_id_for("penguins", "b")
    with open(log, "a") as handle:  # Another writer (a gunicorn worker) took "b".
        handle.write(json.dumps({"job_id": other, "message_id": "b"}, separators=(",", ":")) + "\n")
    assert not submit("b")
    log.unlink()  # Replaced: a new file knows no job.
    assert submit("a")
    log.write_text("")  # Truncated in place.
    assert submit("a") and [line["message_id"] for line in read_log(log)] == ["a"]


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


def test_a_failing_backend_is_retried(client, dry_run, main, monkeypatch):
    class UnavailableError(Exception):
        pass

    def fail(self, submission):
        raise UnavailableError("the backend is down")

    monkeypatch.setattr(main.DryRunBackend, "submit", fail)
    assert post(client, ARTICLE_MESSAGE, "1000").status_code >= 500
    assert read_log(dry_run) == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TRIGGER_BACKEND"),
        ({"TRIGGER_BACKEND": "cloud"}, "TRIGGER_BACKEND"),
        ({"TRIGGER_BACKEND": "dry-run"}, "DRY_RUN_LOG"),
        ({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/tmp/x", "PIPELINE_NAME": "Penguins!"}, "PIPELINE_NAME"),
        ({"TRIGGER_BACKEND": "vertex", "TEMPLATE_URI": "/t.json"}, "PROJECT, REGION, PIPELINE_ROOT, SERVICE_ACCOUNT"),
    ],
)
def test_bad_settings_are_named_and_retried(client, dry_run, monkeypatch, capsys, env, variable):
    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert post(client, ARTICLE_MESSAGE, "1").status_code >= 500
    (entry,) = function_logs(capsys)
    assert entry["severity"] == "ERROR" and variable in entry["message"]


VERTEX_ENV = {
    "TRIGGER_BACKEND": "vertex",
    "TEMPLATE_URI": str(GOLDEN_TEMPLATE),
    "PROJECT": "my-dev-project",
    "REGION": "europe-west4",
    "PIPELINE_ROOT": "gs://penguins-dev-pipeline-root/penguins-dev",
    "SERVICE_ACCOUNT": "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com",
    "PIPELINE_NAME": "penguins-dev",
}


def test_settings_parse_every_backend(main):
    settings = main.Settings.from_env({**VERTEX_ENV, "NETWORK": "projects/1/global/networks/vpc"})
    assert (settings.backend, settings.pipeline_name, settings.network) == (
        "vertex",
        "penguins-dev",
        "projects/1/global/networks/vpc",
    )
    assert main.Settings.from_env({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/x"}).pipeline_name == "penguins"
    assert main.Settings.from_env({"TRIGGER_BACKEND": "local"}).local_env_file is None
    for bad, variable in (
        ({"TEMPLATE_URI": "gs://b/templates/x:latest"}, "TEMPLATE_URI"),
        ({"PIPELINE_ROOT": "/local/root"}, "PIPELINE_ROOT"),
        ({"SERVICE_ACCOUNT": "pipeline"}, "SERVICE_ACCOUNT"),
    ):
        with pytest.raises(main.SettingsError, match=variable):
            main.Settings.from_env({**VERTEX_ENV, **bad})


@pytest.fixture
def vertex(monkeypatch):
    """The vertex backend with anonymous credentials; create_pipeline_job calls captured, never sent."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform import PipelineJob, initializer, pipeline_jobs

    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in VERTEX_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(google.auth, "default", lambda *args, **kwargs: (AnonymousCredentials(), "my-dev-project"))
    monkeypatch.setattr(initializer.global_config, "_credentials", None)
    monkeypatch.setattr(
        pipeline_jobs.gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **_: None
    )
    state = {"calls": [], "error": None}
    original = PipelineJob.submit

    def submit(job, **kwargs):
        def create(**request):
            state["calls"].append(request)
            if state["error"] is not None:
                raise state["error"]
            job_proto = request["pipeline_job"]
            created = type(job_proto).deserialize(type(job_proto).serialize(job_proto))
            created.name = f"{request['parent']}/pipelineJobs/{request['pipeline_job_id']}"
            return created

        assert isinstance(job.credentials, AnonymousCredentials)
        monkeypatch.setattr(job.api_client, "create_pipeline_job", create)
        return original(job, **kwargs)

    monkeypatch.setattr(PipelineJob, "submit", submit)
    return state


def test_vertex_backend_sends_the_typed_request(client, vertex, capsys):
    message = {**SCHEDULER_MESSAGE, "span_start": 4, "span_end": 4, "enable_caching": False, "source": "scheduler"}
    assert post(client, message, "5550001", "structured").status_code == 200
    (request,) = vertex["calls"]
    job_id = pipeline_job_id_for("penguins-dev", "5550001")
    assert request["parent"] == "projects/my-dev-project/locations/europe-west4"
    assert request["pipeline_job_id"] == job_id
    job = request["pipeline_job"]
    assert job.display_name == "penguins-dev"
    assert job.service_account == VERTEX_ENV["SERVICE_ACCOUNT"]
    assert job.network == ""
    assert job.runtime_config.gcs_output_directory == VERTEX_ENV["PIPELINE_ROOT"]
    labels = {key: value for key, value in job.labels.items() if not key.startswith("vertex")}
    assert labels == {"source": "scheduler", "trigger": "5550001", "spans": "4-4"}
    params = job.runtime_config.parameters
    assert params["num_epochs"].int_value == 3
    assert params["learning_rate"].double_value == 0.01
    assert params["span_start"].int_value == 4 and params["span_end"].int_value == 4
    tasks = job.pipeline_spec["root"]["dag"]["tasks"]
    assert all(not task.get("cachingOptions", {}).get("enableCache", False) for task in tasks.values())
    submitted = [entry for entry in function_logs(capsys) if entry.get("event") == "submitted"]
    assert len(submitted) == 1 and submitted[0]["created"] is True and submitted[0]["job_id"] == job_id
    assert submitted[0]["location"].endswith(f"/runs/{job_id}?project=my-dev-project")


def test_vertex_already_exists_is_success(client, vertex, capsys):
    from google.api_core import exceptions

    vertex["error"] = exceptions.AlreadyExists("job exists")
    assert post(client, ARTICLE_MESSAGE, "5550002").status_code == 200
    assert len(vertex["calls"]) == 1
    (submitted,) = [entry for entry in function_logs(capsys) if entry.get("event") == "submitted"]
    assert submitted["created"] is False and submitted["severity"] == "INFO"


def test_vertex_unavailable_is_retried(client, vertex):
    from google.api_core import exceptions

    vertex["error"] = exceptions.ServiceUnavailable("try later")
    assert post(client, ARTICLE_MESSAGE, "5550003").status_code >= 500
    assert len(vertex["calls"]) == 1


def test_local_backend_reserves_one_run_per_job_id(client, monkeypatch, tmp_path):
    from pipelines.submission import local_backend, run_store

    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIGGER_BACKEND", "local")
    monkeypatch.setenv("LOCAL_ROOT", str(tmp_path / "local"))
    # A worker that exits at once: no pipeline run, no TensorFlow.
    monkeypatch.setattr(local_backend, "worker_command", lambda *args: [sys.executable, "-c", "pass"])
    assert post(client, ARTICLE_MESSAGE, "31337").status_code == 200
    assert post(client, ARTICLE_MESSAGE, "31337").status_code == 200
    (record,) = run_store.list_runs(tmp_path / "local")
    assert record.job_id == pipeline_job_id_for("penguins", "31337")
    assert record.parameters == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    assert record.labels == {"source": "pubsub", "trigger": "31337", "spans": "newest"}


def test_local_backend_outside_the_repository_is_a_clear_error(main, monkeypatch, tmp_path):
    monkeypatch.setattr(main, "__file__", str(tmp_path / "main.py"))
    for name in ("envconfig", "pipelines", "pipelines.submission", "localcloud.run_service"):
        monkeypatch.setitem(sys.modules, name, None)  # An import of any of them now fails.
    with pytest.raises(main.SettingsError, match="only from a checkout of the repository"):
        main.LocalBackend(main.Settings(backend="local"))


@settings(max_examples=200, deadline=None, database=None)
@given(
    pipeline_name=st.from_regex(r"[a-z][a-z0-9-]{0,59}", fullmatch=True),
    trigger=st.text(min_size=1, max_size=300),
)
def test_job_ids_agree_with_the_pipelines_contract(main, pipeline_name, trigger):
    """main.job_id_for restates contracts.run_request.job_id_for: the two must agree, and be valid ids."""
    job_id = main.job_id_for(pipeline_name, trigger)
    assert job_id == pipeline_job_id_for(pipeline_name, trigger)
    RunRequest(job_id=job_id, parameters={}, labels={"trigger": main.label_value(trigger)})


IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {function_dir!r})
    started = time.perf_counter()
    import main
    seconds = time.perf_counter() - started
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tfx", "pipelines", "envconfig")
                   or m.startswith("google.cloud.aiplatform"))
    print(json.dumps({{"seconds": seconds, "heavy": heavy}}))
    """
)


def test_module_import_is_light(tmp_path):
    """A cold start imports main.py: no TensorFlow, no aiplatform, nothing from the repository."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # Deployed alone: the repo is not there.
    probe = IMPORT_PROBE.format(function_dir=str(FUNCTION_DIR))
    timed = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert timed.returncode == 0, timed.stderr
    result = json.loads(timed.stdout)
    assert result["heavy"] == []
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert traced.returncode == 0, traced.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if "|" in line]
    assert "main" in imported and "trigger_message" in imported
    assert not [name for name in imported if name.split(".")[0] == "tensorflow"]
    print(f"\nmodule import of main.py (functions_framework, pydantic included): {result['seconds']:.3f} s")


def test_the_folder_deploys_on_its_own():
    """main.py and trigger_message.py import nothing from the repository at module level; requirements pinned."""
    for path in (FUNCTION_DIR / "main.py", FUNCTION_DIR / "trigger_message.py"):
        top_level = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert not [line for line in top_level if line.split()[1].split(".")[0] in ("pipelines", "envconfig")]
    requirements = [
        line.split("#")[0].strip()
        for line in (FUNCTION_DIR / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert requirements and all("==" in line for line in requirements)
    names = {line.split("==")[0].lower() for line in requirements}
    assert {"functions-framework", "cloudevents", "pydantic", "google-cloud-aiplatform"} <= names
    assert Path(FUNCTION_DIR / "requirements.in").is_file()
