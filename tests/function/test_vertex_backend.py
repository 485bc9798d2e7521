"""The vertex backend at the request level: the exact CreatePipelineJob request, with anonymous credentials, and
the GetModel request that finds the champion (the baseline of the run's gate).

The template comes from the pin (TEMPLATE_URI, with its lineage record) or the current-template pointer
(ARTIFACTS_URI/templates/current/<PIPELINE>.json), read where publish puts them: a local folder, or a bucket of
a real GCS
JSON API (gcp-storage-emulator), the way a deployed function reads gs://<prefix>-artifacts.
"""

from __future__ import annotations

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import vertex as vertex_module
from settings import Settings

from contracts.run_request import Baseline, job_id_for, lineage_location
from tests.function import (
    ARTICLE_MESSAGE,
    GOLDEN_TEMPLATE,
    LINEAGE,
    MODEL,
    SCHEDULER_MESSAGE,
    VERTEX_ENV,
    log_lines,
    post,
)


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
        "template_source": "pin",
        "baseline": "none",
    }
    params = job.runtime_config.parameters
    # The environment's values (infra's ENVIRONMENT_PARAMETERS) and, with no champion yet, no baseline.
    environment = json.loads(VERTEX_ENV["ENVIRONMENT_PARAMETERS"])
    assert set(params) == {"num_epochs", "learning_rate", "span_start", "span_end", "baseline_model", *environment}
    assert params["baseline_model"].string_value == ""
    assert params["data_root"].string_value == "gs://penguins-dev-data/penguins"
    assert params["gate_bound"].double_value == 0.9 and params["window_spans"].int_value == 3
    assert vertex["models"].requests == [f"{MODEL}@champion"]
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
    expected = {
        "template": vertex["template_sha256"][:12],
        "source": "pubsub",
        "trigger": "6101",
        "spans": "newest",
        "template_source": "pin",
        "baseline": "none",
    }
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
    assert labels_of(request) == {
        **lineage_labels(sha),
        "source": "pubsub",
        "trigger": "7001",
        "spans": "newest",
        "template_source": "pin",
        "baseline": "none",
    }
    assert request["pipeline_job"].pipeline_spec["pipelineInfo"]["name"] == "penguins"


@pytest.mark.server
def test_a_template_on_gcs_without_a_lineage_record_still_runs(client, vertex, gcs_artifacts, monkeypatch):
    sha = vertex["template_sha256"]
    gcs_artifacts.blob(f"templates/{sha}/pipeline.json").upload_from_string(GOLDEN_TEMPLATE.read_bytes())
    monkeypatch.setenv("TEMPLATE_URI", f"gs://{gcs_artifacts.name}/templates/{sha}/pipeline.json")
    assert post(client, ARTICLE_MESSAGE, "7002").status_code == 200
    (request,) = vertex["calls"]
    assert "commit" not in labels_of(request) and labels_of(request)["template"] == sha[:12]


REGISTRY = "gs://penguins-dev-registry/penguins-dev-penguins-model"


def test_the_champion_is_the_runs_baseline_and_its_label(client, vertex, capsys):
    root = f"{REGISTRY}/{'e' * 64}"
    vertex["models"].set_champion("7", f"{root}/Format-Serving")
    assert post(client, ARTICLE_MESSAGE, "8001").status_code == 200
    (request,) = vertex["calls"]
    assert request["pipeline_job"].runtime_config.parameters["baseline_model"].string_value == root
    assert labels_of(request)["baseline"] == "7"
    (resolved,) = [e for e in log_lines(capsys.readouterr().out) if e.get("event") == "resolved"]
    assert resolved["baseline"] == "7" and resolved["template_source"] == "pin"
    # Asked at each message: a new champion judges the next run.
    vertex["models"].set_champion("8", f"{REGISTRY}/{'f' * 64}/Format-Serving")
    assert post(client, ARTICLE_MESSAGE, "8002").status_code == 200
    assert labels_of(vertex["calls"][1])["baseline"] == "8"
    assert vertex["models"].requests == [f"{MODEL}@champion"] * 2


def test_a_champion_that_cannot_be_a_baseline_is_retried_naming_it(client, vertex, capsys):
    vertex["models"].set_champion("3", "gs://penguins-dev-pipeline-root/penguins-dev/Trainer/model/9")
    assert post(client, ARTICLE_MESSAGE, "8101").status_code >= 500
    assert vertex["calls"] == []
    (entry,) = [e for e in log_lines(capsys.readouterr().out) if e.get("event") == "retry"]
    assert "champion 3" in entry["message"] and "Format-Serving" in entry["message"]


def set_pointer(folder: Path, sha: str, job_id: str, commit: str, dirty: bool | None = None) -> None:
    """The pointer as `nox -s publish -- --set-current` writes it (release/publishing/current.py); without
    `dirty`, as it was written before the flag was kept."""
    record = {
        "template": str(folder / "templates" / sha / "pipeline.json"),
        "template_sha256": sha,
        "commit": commit,
        "modules_sha256": LINEAGE["modules_sha256"],
        "image": LINEAGE["image"],
        "job_id": job_id,
        "set_at": "2026-11-25T10:00:00+00:00",
        "set_by": f"ci:{job_id}",
        "submitted_at": 1_800_000_000.0,
        **({} if dirty is None else {"dirty": dirty}),
    }
    (folder / "templates" / "current").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "current" / "penguins.json").write_text(json.dumps(record))


def test_without_a_pin_the_pointer_is_read_at_each_message(client, vertex, monkeypatch, tmp_path):
    artifacts = tmp_path / "artifacts"
    monkeypatch.delenv("TEMPLATE_URI")
    monkeypatch.setenv("ARTIFACTS_URI", str(artifacts))
    monkeypatch.setenv("PIPELINE", "penguins")
    sha = vertex["template_sha256"]
    set_pointer(artifacts, sha, "penguins-dev-ci-1", "1" * 40, dirty=False)
    assert post(client, ARTICLE_MESSAGE, "8201").status_code == 200
    labels = labels_of(vertex["calls"][0])
    assert (labels["template"], labels["template_source"], labels["commit"]) == (sha[:12], "pointer", "1" * 12)
    assert labels["dirty"] == "false"  # the template's, from the pointer
    # CI moves it (here: to the same bytes, published by another commit): the next message follows at once.
    set_pointer(artifacts, sha, "penguins-dev-ci-2", "2" * 40)  # as set before `dirty` was kept
    assert post(client, ARTICLE_MESSAGE, "8202").status_code == 200
    labels = labels_of(vertex["calls"][1])
    assert labels["commit"] == "2" * 12 and "dirty" not in labels  # unknown: left out, not guessed


def test_no_pointer_yet_is_retried_saying_what_sets_it(client, vertex, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TEMPLATE_URI")
    monkeypatch.setenv("ARTIFACTS_URI", str(tmp_path / "empty"))
    monkeypatch.setenv("PIPELINE", "penguins")
    assert post(client, ARTICLE_MESSAGE, "8301").status_code >= 500
    (entry,) = [e for e in log_lines(capsys.readouterr().out) if e.get("event") == "retry"]
    assert "no current template" in entry["message"] and "CI sets it" in entry["message"]


@pytest.fixture
def vertex_api(monkeypatch):
    """A loopback stand-in for Vertex AI's REST API behind GOOGLE_APIS_BASE_URL (contracts/google_apis.py).

    It answers aiplatform.projects.locations.models.get as Google's discovery document describes it (GET
    v1/{+name}, flatPath v1/projects/{projectsId}/locations/{locationsId}/models/{modelsId}; a version alias
    after '@'): the champion's Model, or 404 NOT_FOUND. It records each request's method and path.
    """
    state = {"champion": None, "requests": []}
    flat_path = re.compile(
        r"^/europe-west4-aiplatform\.googleapis\.com/v1/projects/[^/]+/locations/[^/]+/models/[^/]+$"
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = unquote(urlsplit(self.path).path)
            state["requests"].append(("GET", path))
            name = path.split("/v1/", 1)[-1]
            if not flat_path.match(path) or state["champion"] is None or not name.endswith("@champion"):
                body = {"error": {"code": 404, "message": f"Model {name} not found", "status": "NOT_FOUND"}}
                self._send(404, body)
            else:
                self._send(200, {**state["champion"], "name": name.partition("@")[0]})

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GOOGLE_APIS_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield state
    server.shutdown()
    server.server_close()


def test_get_model_at_champion_over_rest_and_its_not_found(vertex, vertex_api, monkeypatch):
    """The request the deployed function sends (no transport stand-in): GET .../models/<model>@champion."""
    from google.cloud.aiplatform_v1.services.model_service.transports.rest import ModelServiceRestTransport
    from settings import Settings

    monkeypatch.setattr(ModelServiceRestTransport, "get_model", vertex["models"].original)  # not FakeModels
    backend = vertex_module.VertexBackend(Settings.from_env(os.environ))
    assert backend.champion() == Baseline()  # 404: no champion yet
    vertex_api["champion"] = {"versionId": "5", "artifactUri": f"{REGISTRY}/{'a' * 64}/Format-Serving"}
    assert backend.champion() == Baseline("5", f"{REGISTRY}/{'a' * 64}")
    path = f"/europe-west4-aiplatform.googleapis.com/v1/{MODEL}@champion"
    assert vertex_api["requests"] == [("GET", path), ("GET", path)]
