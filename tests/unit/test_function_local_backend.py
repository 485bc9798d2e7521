"""The trigger function's local backend (TRIGGER_BACKEND=local): a message becomes one local run, labelled with
the working tree's lineage exactly as release.submit labels the runs it submits.

It needs the repository (localcloud, release, pipelines), so it runs here in the TFX environment; the rest of
the function is tested on its own runtime (tests/function, `nox -s function_tests`). Stub workers: no
TensorFlow, no pipeline run.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

import functions_framework
import pytest

from contracts.config import REPO_ROOT
from contracts.run_request import job_id_for
from localcloud import run_service, run_store
from pipelines.worktree import working_tree_lineage
from release import submit

FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
FUNCTION_ENV = (
    "TRIGGER_BACKEND", "DRY_RUN_LOG", "PIPELINE_NAME", "PIPELINE", "TEMPLATE_URI", "LOCAL_ENV_FILE", "LOCAL_ROOT"
)  # fmt: skip
ARTICLE_MESSAGE = {"num_epochs": 3, "learning_rate": 1e-2}


@pytest.fixture
def client(monkeypatch, tmp_path):
    """The function with the local backend on a temporary root; workers exit at once."""
    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIGGER_BACKEND", "local")
    monkeypatch.setenv("PIPELINE", "penguins")
    monkeypatch.setenv("LOCAL_ROOT", str(tmp_path / "local"))
    monkeypatch.setattr(run_service, "worker_command", lambda *args: [sys.executable, "-c", "pass"])
    app = functions_framework.create_app("trigger_pipeline", str(FUNCTION_DIR / "main.py"), "cloudevent")
    sys.modules["backends"].backend_for.cache_clear()  # A backend of another test's root must not be reused.
    return app.test_client()


def post(client, payload: dict, message_id: str) -> int:
    body = {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode(), "messageId": message_id}}
    headers = {
        "ce-id": message_id,
        "ce-source": "//pubsub.googleapis.com/projects/local/topics/pipeline-trigger",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "content-type": "application/json",
    }
    return int(client.post("/", headers=headers, data=json.dumps(body)).status_code)


def test_local_backend_reserves_one_run_per_job_id(client, tmp_path):
    assert post(client, ARTICLE_MESSAGE, "31337") == 200
    assert post(client, ARTICLE_MESSAGE, "31337") == 200
    (record,) = run_store.list_runs(tmp_path / "local")
    assert record.job_id == job_id_for("penguins", "31337")
    assert record.parameters == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    lineage = working_tree_lineage("penguins")
    assert record.labels == {
        "commit": lineage.commit[:12],
        "dirty": str(lineage.dirty).lower(),
        "modules": lineage.modules_sha256[:12],
        "source": "pubsub",
        "trigger": "31337",
        "spans": "newest",
    }


def test_an_event_run_and_a_submitted_run_carry_the_same_lineage(client, tmp_path):
    """The function's local backend and `nox -s submit` label the working tree's commit and modules alike."""
    assert post(client, {**ARTICLE_MESSAGE, "idempotency_key": "same-trigger"}, "1") == 200
    (record,) = run_store.list_runs(tmp_path / "local")
    args = argparse.Namespace(
        span_start=0, span_end=0, trigger_id="same-trigger", source="pubsub", num_epochs=3, learning_rate=0.01,
        template=None, no_cache=False,
    )  # fmt: skip
    request = submit.build_request(args, "penguins", None, "penguins")
    assert request.job_id == record.job_id  # `nox -s submit --trigger-id X` names the job a key X names.
    same = ("commit", "modules", "source", "spans")
    assert {k: request.labels[k] for k in same} == {k: record.labels[k] for k in same}


def test_a_local_environment_file_that_is_not_local_is_a_settings_error(client, monkeypatch, capsys):
    monkeypatch.setenv("LOCAL_ENV_FILE", str(REPO_ROOT / "envs" / "dev.yaml"))
    assert post(client, ARTICLE_MESSAGE, "5") >= 500  # A deployment problem: retried, not acknowledged.
    out = capsys.readouterr().out
    assert "LOCAL_ENV_FILE" in out and "is not a local one" in out
