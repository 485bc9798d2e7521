"""The vertex backend at the request level: the exact CreatePipelineJob request, with anonymous credentials.

The template and its lineage record are read where publish puts them: a local folder, or a bucket of a real
GCS JSON API (gcp-storage-emulator), the way a deployed function reads gs://<prefix>-artifacts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import vertex as vertex_module
from settings import Settings

from contracts.run_request import job_id_for, lineage_location
from tests.function import ARTICLE_MESSAGE, GOLDEN_TEMPLATE, LINEAGE, SCHEDULER_MESSAGE, VERTEX_ENV, log_lines, post


def submitted_entries(capsys):
    return [entry for entry in log_lines(capsys.readouterr().out) if entry.get("event") == "submitted"]


def labels_of(request):
    return {key: value for key, value in request["pipeline_job"].labels.items() if not key.startswith("vertex")}


def lineage_labels(template_sha256: str) -> dict[str, str]:
    """What the lineage record says, as labels: the same ones release/submit.py gives a run from CI."""
    commit, modules = LINEAGE["commit"][:12], LINEAGE["modules_sha256"][:12]
    return {"commit": commit, "modules": modules, "template": template_sha256[:12]}


def test_vertex_backend_sends_the_typed_request_with_the_templates_lineage(client, vertex, capsys):
    message = {**SCHEDULER_MESSAGE, "span_start": 4, "span_end": 4, "enable_caching": False, "source": "scheduler"}
    assert post(client, message, "5550001", "structured").status_code == 200
    (request,) = vertex["calls"]
    job_id = job_id_for("penguins-dev", "5550001")
    assert request["parent"] == "projects/my-dev-project/locations/europe-west4"
    assert request["pipeline_job_id"] == job_id
    job = request["pipeline_job"]
    assert job.display_name == "penguins-dev"
    assert job.service_account == VERTEX_ENV["SERVICE_ACCOUNT"]
    assert job.network == ""
    assert job.runtime_config.gcs_output_directory == VERTEX_ENV["PIPELINE_ROOT"]
    assert labels_of(request) == {
        **lineage_labels(vertex["template_sha256"]),
        "source": "scheduler",
        "trigger": "5550001",
        "spans": "4-4",
    }
    params = job.runtime_config.parameters
    assert params["num_epochs"].int_value == 3
    assert params["learning_rate"].double_value == 0.01
    assert params["span_start"].int_value == 4 and params["span_end"].int_value == 4
    tasks = job.pipeline_spec["root"]["dag"]["tasks"]
    assert all(not task.get("cachingOptions", {}).get("enableCache", False) for task in tasks.values())
    (submitted,) = submitted_entries(capsys)
    assert submitted["created"] is True and submitted["job_id"] == job_id
    assert submitted["location"].endswith(f"/runs/{job_id}?project=my-dev-project")


def test_vertex_already_exists_is_success(client, vertex, capsys):
    from google.api_core import exceptions

    vertex["error"] = exceptions.AlreadyExists("job exists")
    assert post(client, ARTICLE_MESSAGE, "5550002").status_code == 200
    assert len(vertex["calls"]) == 1
    (submitted,) = submitted_entries(capsys)
    assert submitted["created"] is False and submitted["severity"] == "INFO"


def test_vertex_unavailable_is_retried(client, vertex):
    from google.api_core import exceptions

    vertex["error"] = exceptions.ServiceUnavailable("try later")
    assert post(client, ARTICLE_MESSAGE, "5550003").status_code >= 500
    assert len(vertex["calls"]) == 1


def test_the_lineage_record_is_read_once_per_instance(client, vertex, monkeypatch):
    reads = []
    original = vertex_module._read
    monkeypatch.setattr(vertex_module, "_read", lambda *args: reads.append(args) or original(*args))
    for message_id in ("6001", "6002", "6003"):
        assert post(client, ARTICLE_MESSAGE, message_id).status_code == 200
    assert len(reads) == 1 and len(vertex["calls"]) == 3
    assert all(labels_of(call)["commit"] == LINEAGE["commit"][:12] for call in vertex["calls"])


def lineage_record() -> Path:
    """The lineage record beside the vertex fixture's template (a local folder)."""
    return Path(lineage_location(str(Settings.from_env(os.environ).template_uri)))


def test_a_template_without_a_lineage_record_is_labelled_by_template_only(client, vertex, capsys):
    """A template published from uncommitted code has no record: its runs still run, labelled by template."""
    lineage_record().unlink()
    assert post(client, ARTICLE_MESSAGE, "6101").status_code == 200
    (request,) = vertex["calls"]
    expected = {"template": vertex["template_sha256"][:12], "source": "pubsub", "trigger": "6101", "spans": "newest"}
    assert labels_of(request) == expected
    warning = [e for e in log_lines(capsys.readouterr().out) if e.get("event") == "lineage"]
    assert len(warning) == 1 and "no lineage record" in warning[0]["message"]


def test_a_broken_lineage_record_is_a_deployment_error_and_retried(client, vertex, capsys):
    lineage_record().write_text(json.dumps({**LINEAGE, "modules_sha256": "not-a-hash"}))
    assert post(client, ARTICLE_MESSAGE, "6201").status_code >= 500
    assert vertex["calls"] == []
    (entry,) = [e for e in log_lines(capsys.readouterr().out) if e.get("event") == "retry"]
    assert "TEMPLATE_URI" in entry["message"] and "lineage.json: modules_sha256" in entry["message"]


@pytest.mark.server
def test_the_template_and_its_lineage_are_read_from_gcs(client, vertex, gcs_artifacts, monkeypatch):
    """Published to a bucket (as `nox -s publish` does): the template and its lineage come over the GCS API."""
    sha = vertex["template_sha256"]
    gcs_artifacts.blob(f"templates/{sha}/pipeline.json").upload_from_string(GOLDEN_TEMPLATE.read_bytes())
    gcs_artifacts.blob(f"templates/{sha}/lineage.json").upload_from_string(json.dumps(LINEAGE))
    monkeypatch.setenv("TEMPLATE_URI", f"gs://{gcs_artifacts.name}/templates/{sha}/pipeline.json")
    assert post(client, {**ARTICLE_MESSAGE, "idempotency_key": "weekly-2026-11-23"}, "7001").status_code == 200
    (request,) = vertex["calls"]
    assert request["pipeline_job_id"] == job_id_for("penguins-dev", "weekly-2026-11-23")
    assert labels_of(request) == {**lineage_labels(sha), "source": "pubsub", "trigger": "7001", "spans": "newest"}
    assert request["pipeline_job"].pipeline_spec["pipelineInfo"]["name"] == "penguins-dev"


@pytest.mark.server
def test_a_template_on_gcs_without_a_lineage_record_still_runs(client, vertex, gcs_artifacts, monkeypatch):
    sha = vertex["template_sha256"]
    gcs_artifacts.blob(f"templates/{sha}/pipeline.json").upload_from_string(GOLDEN_TEMPLATE.read_bytes())
    monkeypatch.setenv("TEMPLATE_URI", f"gs://{gcs_artifacts.name}/templates/{sha}/pipeline.json")
    assert post(client, ARTICLE_MESSAGE, "7002").status_code == 200
    (request,) = vertex["calls"]
    assert "commit" not in labels_of(request) and labels_of(request)["template"] == sha[:12]
