"""The Vertex AI Model Registry backend at the request level: the SDK's real calls, anonymous credentials, the
ModelService GAPIC methods answered by an in-memory stand-in that records every request; the alias history on
the GCS API emulator."""

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1.services.model_service import ModelServiceClient
from google.cloud.aiplatform_v1.types import model as gca_model
from google.cloud.aiplatform_v1.types import model_service

from components.registry.promotion import move_champion, rollback
from components.registry.vertex_store import VertexRegistry
from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, Span, UnknownVersionError, registry_target
from tests.gcs_emulator import client_for, running_emulator

LINEAGE = Lineage(
    pipeline_run_id="penguins-dev-ci-0123456789abcdef",
    commit="abc123def456",
    modules="8502dcf44e3d",
    image="europe-west4-docker.pkg.dev/p/r/pipeline@sha256:" + "0" * 64,
    source="ci",
    spans=(Span(number=3, sha256="b" * 64),),
    parameters={"num_epochs": 20, "learning_rate": 0.01},
    metrics={"sparse_categorical_accuracy": 0.97},
)


class FakeModelService:
    """What Vertex keeps for one model: its versions (gca Model protos) and every request received."""

    def __init__(self):
        self.versions: list[gca_model.Model] = []
        self.requests: list[tuple[str, object]] = []

    def install(self, monkeypatch):
        service = self

        class Done:
            def __init__(self, response):
                self.response = response
                self.operation = type("Operation", (), {"name": "operations/upload-1"})()

            def result(self, *args, **kwargs):
                return self.response

        def upload_model(client, request=None, **_):
            service.requests.append(("upload", request))
            model = gca_model.Model(request.model)
            model.name = f"{request.parent}/models/{request.model_id or request.parent_model.rsplit('/', 1)[-1]}"
            model.version_id = str(len(service.versions) + 1)
            model.version_create_time = {"seconds": 1_800_000_000 + len(service.versions)}
            service.versions.append(model)
            return Done(model_service.UploadModelResponse(model=model.name, model_version_id=model.version_id))

        def get_model(client, name=None, request=None, **_):
            version = (name or request.name).partition("@")[2]
            for model in service.versions:
                if model.version_id == version or (not version and "default" in model.version_aliases):
                    return model
            raise AssertionError(f"unexpected get_model({name})")

        def list_model_versions(client, request=None, **_):
            service.requests.append(("list", request))
            if not service.versions:
                from google.api_core import exceptions

                raise exceptions.NotFound("model not found")
            return list(service.versions)

        def merge_version_aliases(client, name=None, version_aliases=None, **_):
            service.requests.append(("merge", (name, list(version_aliases))))
            version = name.rsplit("@", 1)[1]
            for model in service.versions:
                kept = [a for a in model.version_aliases if a not in version_aliases]
                model.version_aliases = kept + (list(version_aliases) if model.version_id == version else [])

        for name, method in [
            ("upload_model", upload_model),
            ("get_model", get_model),
            ("list_model_versions", list_model_versions),
            ("merge_version_aliases", merge_version_aliases),
        ]:
            monkeypatch.setattr(ModelServiceClient, name, method)
        return self


@pytest.fixture(scope="module")
def gcs():
    with running_emulator() as endpoint:
        client = client_for(endpoint)
        client.create_bucket("penguins-dev-artifacts")
        yield client


@pytest.fixture
def registry(gcs, monkeypatch, request):
    from google.cloud.aiplatform import initializer

    service = FakeModelService().install(monkeypatch)
    # Model.upload builds the Model it returns without the caller's credentials: it falls back to these.
    monkeypatch.setattr(initializer.global_config, "_credentials", AnonymousCredentials())
    target = registry_target(load_environment("dev"))
    # Each test its own history folder in the shared bucket.
    target = target.model_copy(update={"history_uri": f"{target.history_uri}/{request.node.name}"})
    vertex = VertexRegistry(target, credentials=AnonymousCredentials(), storage_client=gcs, content_hash=fake_hash)
    return vertex, service


def fake_hash(uri):
    """The content address of a stand-in model URI: its last segment names its content."""
    import hashlib

    return hashlib.sha256(uri.rsplit("/", 1)[-1].encode()).hexdigest()


def model_dir(tmp_path, content, run="run-1"):
    return f"gs://penguins-dev-pipeline-root/penguins-dev/{run}/Trainer/model/{content}"


def test_target_follows_the_environment():
    target = registry_target(load_environment("dev"))
    assert (target.backend, target.model_name, target.project, target.region) == (
        "vertex",
        "penguins-dev-model",
        "my-dev-project",
        "europe-west4",
    )
    assert target.auto_promote and not registry_target(load_environment("prod")).auto_promote
    assert target.history_uri == "gs://penguins-dev-artifacts/registry/penguins-dev-model/history"


def test_upload_requests_carry_lineage_and_versions(registry, tmp_path):
    vertex, service = registry
    first, created = vertex.register(model_dir(tmp_path, "one"), LINEAGE, blessed=True)
    assert created and first.version == "1" and first.lineage == LINEAGE
    second, _ = vertex.register(model_dir(tmp_path, "two"), LINEAGE, blessed=True)
    uploads = [r for kind, r in service.requests if kind == "upload"]
    assert len(uploads) == 2
    one, two = uploads
    assert one.parent == "projects/my-dev-project/locations/europe-west4"
    assert one.model_id == "penguins-dev-model" and not one.parent_model
    assert two.parent_model == "projects/my-dev-project/locations/europe-west4/models/penguins-dev-model"
    assert "default" in one.model.version_aliases and "default" not in two.model.version_aliases
    labels = dict(two.model.labels)
    assert labels["commit"] == "abc123def456" and labels["modules"] == "8502dcf44e3d" and labels["spans"] == "3"
    assert labels["content"] == second.content_sha256[:63] and labels["blessed"] == "true"
    assert labels["run"] == "penguins-dev-ci-0123456789abcdef"
    # What does not fit a label (the image digest, span hashes, metrics) is in the description.
    assert LINEAGE.image in two.model.version_description and "b" * 64 in two.model.version_description
    assert two.model.artifact_uri == model_dir(tmp_path, "two")
    # The pinned serving container from the environment (never a `latest` tag).
    serving = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/tf-serving:2.16.1"
    assert two.model.container_spec.image_uri == serving


def test_identical_files_upload_nothing(registry, tmp_path):
    vertex, service = registry
    first, _ = vertex.register(model_dir(tmp_path, "one"), LINEAGE, blessed=True)
    again, created = vertex.register(model_dir(tmp_path, "one", run="run-2"), LINEAGE, blessed=True)
    assert not created and again.version == first.version
    assert sum(kind == "upload" for kind, _ in service.requests) == 1


def test_alias_moves_through_merge_requests_and_history(registry, tmp_path):
    vertex, service = registry
    for name in ("one", "two"):
        vertex.register(model_dir(tmp_path, name), LINEAGE, blessed=True)
    move_champion(vertex, "1", by="ci", reason="first", smoke=lambda v: None)
    move_champion(vertex, "2", by="ci", reason="better", smoke=lambda v: None)
    back = rollback(vertex, to=None, by="alice", reason="regression", smoke=lambda v: None)
    assert back.to_version == "1" and vertex.alias_version(CHAMPION) == "1"
    merges = [r for kind, r in service.requests if kind == "merge"]
    base = "projects/my-dev-project/locations/europe-west4/models/penguins-dev-model"
    assert merges == [(f"{base}@1", [CHAMPION]), (f"{base}@2", [CHAMPION]), (f"{base}@1", [CHAMPION])]
    assert [(m.from_version, m.to_version, m.kind) for m in vertex.history()] == [
        (None, "1", "promote"),
        ("1", "2", "promote"),
        ("2", "1", "rollback"),
    ]
    assert vertex.get("1").aliases == (CHAMPION,)
    with pytest.raises(UnknownVersionError, match="'7'"):
        vertex.get("7")
