"""Fixtures of the trigger function's tests: the app, its settings per backend, the GCS emulator, a real server.

The function's folder goes first on sys.path, as its modules import each other by their flat names (the
folder is the root of the deployed source); `contracts` comes from the repository root (PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.function import FUNCTION_DIR, FUNCTION_ENV, GOLDEN_TEMPLATE, LINEAGE, MAIN, MODEL, VERTEX_ENV

if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))

import backends
import functions_framework

SERVER_STARTUP_SECONDS = 60


@pytest.fixture(autouse=True)
def fresh_backends():
    """Each test gets new backend objects: the vertex one keeps its template's lineage once read."""
    backends.backend_for.cache_clear()
    yield
    backends.backend_for.cache_clear()


@pytest.fixture
def clean_env(monkeypatch):
    """None of the function's variables set."""
    for name in FUNCTION_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def app():
    return functions_framework.create_app(target="trigger_pipeline", source=str(MAIN), signature_type="cloudevent")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dry_run(tmp_path, clean_env):
    """The dry-run backend and nothing else: the log path."""
    log = tmp_path / "dry-run.jsonl"
    clean_env.setenv("TRIGGER_BACKEND", "dry-run")
    clean_env.setenv("DRY_RUN_LOG", str(log))
    return log


def published_template(folder: Path, lineage: dict | None = LINEAGE) -> tuple[str, str]:
    """The golden template as publish lays it out under `folder` (templates/<sha256>/); returns (path, sha)."""
    data = GOLDEN_TEMPLATE.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    target = folder / "templates" / sha
    target.mkdir(parents=True)
    (target / "pipeline.json").write_bytes(data)
    if lineage is not None:
        (target / "lineage.json").write_text(json.dumps(lineage))
    return str(target / "pipeline.json"), sha


class FakeModels:
    """Vertex AI's ModelService under the real client's REST transport: the client builds the GetModelRequest,
    this answers it from `champion` (a Model proto, or None: NotFound, as Vertex answers an alias nobody has)."""

    def __init__(self):
        self.champion = None
        self.requests: list[str] = []

    def set_champion(self, version: str, artifact_uri: str) -> None:
        from google.cloud.aiplatform_v1.types import Model

        self.champion = Model(name=MODEL, version_id=version, artifact_uri=artifact_uri, version_aliases=["champion"])

    def get_model(self, request, **_):
        from google.api_core import exceptions

        self.requests.append(request.name)
        if self.champion is None:
            raise exceptions.NotFound(f"Model {request.name} not found")
        return self.champion

    def install(self, monkeypatch):
        from google.cloud.aiplatform_v1.services.model_service.transports.rest import ModelServiceRestTransport

        self.original = ModelServiceRestTransport.__dict__["get_model"]  # for a test that wants the real one
        # The transport wraps the property's callable when the client is made: the client's request reaches it.
        monkeypatch.setattr(ModelServiceRestTransport, "get_model", property(lambda _transport: self.get_model))
        return self


@pytest.fixture
def vertex(clean_env, tmp_path):
    """The vertex backend with anonymous credentials; create_pipeline_job calls captured, never sent; the
    registry's champion answered by FakeModels (none until a test sets one).

    TEMPLATE_URI is a published template (a pin) with its lineage record in a local folder; a test may point it
    at GCS, or unset it and set ARTIFACTS_URI to read the current-template pointer instead.
    """
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform import PipelineJob, initializer, pipeline_jobs

    template, sha = published_template(tmp_path / "artifacts")
    for name, value in {**VERTEX_ENV, "TEMPLATE_URI": template}.items():
        clean_env.setenv(name, value)
    clean_env.setattr(google.auth, "default", lambda *args, **kwargs: (AnonymousCredentials(), "my-dev-project"))
    clean_env.setattr(initializer.global_config, "_credentials", None)
    clean_env.setattr(
        pipeline_jobs.gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **_: None
    )
    state = {"calls": [], "error": None, "template_sha256": sha, "models": FakeModels().install(clean_env)}
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
        clean_env.setattr(job.api_client, "create_pipeline_job", create)
        return original(job, **kwargs)

    clean_env.setattr(PipelineJob, "submit", submit)
    return state


@pytest.fixture(scope="module")
def gcs_endpoint():
    """A real GCS JSON API (gcp-storage-emulator, in memory) for this module's tests."""
    from tests.gcs_emulator import running_emulator

    with running_emulator() as endpoint:
        yield endpoint


@pytest.fixture
def gcs_artifacts(gcs_endpoint, monkeypatch):
    """A fresh artifacts bucket in the emulator; every storage client of the process talks to the emulator."""
    from tests.gcs_emulator import client_for

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    return client_for(gcs_endpoint).create_bucket(f"artifacts-{uuid.uuid4().hex[:12]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # It answered (a GET is not a CloudEvent).
    except OSError:
        return False
    return True


def server_command(source: Path, port: int) -> list[str]:
    script = Path(sys.executable).with_name("functions-framework")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "functions_framework"]
    return [
        *launcher, "--target", "trigger_pipeline", "--source", str(source), "--signature-type", "cloudevent",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def function_server(tmp_path_factory):
    """functions-framework serving the deployed archive, unzipped, with the dry-run backend; always stopped.

    The archive alone (no repository on the path), two gunicorn workers of four threads: like a deployment.
    """
    from infra.function_source import build_archive

    tmp = tmp_path_factory.mktemp("function-server")
    source = tmp / "source"
    shutil.unpack_archive(build_archive(tmp / "zip").path, source, "zip")
    log, output = tmp / "dry-run.jsonl", tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", *FUNCTION_ENV)}
    env.update(TRIGGER_BACKEND="dry-run", DRY_RUN_LOG=str(log), WORKERS="2", THREADS="4", PYTHONUNBUFFERED="1")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            server_command(source / "main.py", port),
            cwd=tmp,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while not _answers(url):
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
