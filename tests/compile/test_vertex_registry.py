"""The Vertex AI Model Registry backend at the request level: the SDK's real calls, anonymous credentials, the
ModelService GAPIC methods answered by an in-memory stand-in that records every request. Moves of the alias
are tests/compile/test_vertex_promotion.py's."""

import pytest

from components.registry.vertex_store import SERVER_COMMAND
from contracts.config import load_environment
from contracts.registry import Lineage, RegistryError, Span, UnknownVersionError, registry_target
from tests.compile.vertex_fakes import trained_model

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


@pytest.fixture
def registry(vertex):
    registry, models, _ = vertex
    return registry, models


@pytest.fixture
def model_dir(gcs):
    """A Trainer's SavedModel on the GCS emulator holding `content`, by a run."""
    return lambda content, run="run-1": trained_model(gcs, content, run)


def test_target_follows_the_environment():
    target = registry_target(load_environment("dev", "penguins"))
    assert (target.backend, target.model_name, target.project, target.region) == (
        "vertex",
        "penguins-dev-penguins-model",
        "my-dev-project",
        "europe-west4",
    )
    assert target.auto_promote and not registry_target(load_environment("prod", "penguins")).auto_promote
    assert target.history_uri == "gs://penguins-dev-registry/penguins-dev-penguins-model/history"


def test_upload_requests_carry_lineage_and_versions(registry, model_dir):
    vertex, service = registry
    first, created = vertex.register(model_dir("one"), LINEAGE, blessed=True)
    assert created and first.version == "1" and first.lineage == LINEAGE
    second, _ = vertex.register(model_dir("two"), LINEAGE, blessed=True)
    uploads = [r for kind, r in service.requests if kind == "upload"]
    assert len(uploads) == 2
    one, two = uploads
    assert one.parent == "projects/my-dev-project/locations/europe-west4"
    assert one.model_id == "penguins-dev-penguins-model" and not one.parent_model
    assert two.parent_model == "projects/my-dev-project/locations/europe-west4/models/penguins-dev-penguins-model"
    assert "default" in one.model.version_aliases and "default" not in two.model.version_aliases
    labels = dict(two.model.labels)
    assert labels["commit"] == "abc123def456" and labels["modules"] == "8502dcf44e3d" and labels["spans"] == "3"
    assert labels["content"] == second.content_sha256[:63] and labels["blessed"] == "true"
    assert labels["run"] == "penguins-dev-ci-0123456789abcdef"
    # What does not fit a label (the image digest, span hashes, metrics) is in the description.
    assert LINEAGE.image in two.model.version_description and "b" * 64 in two.model.version_description
    # The registry's own copy, content-addressed, in a bucket no lifecycle rule empties.
    assert (
        two.model.artifact_uri
        == f"gs://penguins-dev-registry/penguins-dev-penguins-model/{second.content_sha256}/Format-Serving"
    )
    assert second.uri == two.model.artifact_uri
    # The run's own pipeline image, by digest, running the project's server on the local server's routes.
    container = two.model.container_spec
    assert container.image_uri == LINEAGE.image and list(container.command) == SERVER_COMMAND
    assert [p.container_port for p in container.ports] == [8080]
    assert container.predict_route == "/v1/models/penguins-dev:predict"
    assert container.health_route == "/v1/models/penguins-dev"


def test_an_explicit_serving_image_overrides_the_runs(registry, model_dir):
    vertex, service = registry
    image = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/server@sha256:" + "1" * 64
    vertex.target = vertex.target.model_copy(update={"serving_image": image})
    vertex.register(model_dir("one"), LINEAGE, blessed=True)
    (upload,) = [r for kind, r in service.requests if kind == "upload"]
    assert upload.model.container_spec.image_uri == image


def test_a_version_without_an_image_is_refused_before_any_upload(registry, model_dir):
    vertex, service = registry
    with pytest.raises(RegistryError, match="no image to serve with"):
        vertex.register(model_dir("one"), LINEAGE.model_copy(update={"image": None}), blessed=True)
    assert not [kind for kind, _ in service.requests if kind == "upload"]


def test_identical_files_upload_nothing(registry, model_dir):
    vertex, service = registry
    first, _ = vertex.register(model_dir("one"), LINEAGE, blessed=True)
    again, created = vertex.register(model_dir("one", run="run-2"), LINEAGE, blessed=True)
    assert not created and again.version == first.version
    assert sum(kind == "upload" for kind, _ in service.requests) == 1


def test_an_unknown_version_is_named(registry, model_dir):
    vertex, _ = registry
    vertex.register(model_dir("one"), LINEAGE, blessed=True)
    with pytest.raises(UnknownVersionError, match="'7'"):
        vertex.get("7")
