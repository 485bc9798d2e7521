"""The Vertex AI Model Registry backend against the real dev project (skipped without credentials).

Registers a tiny stand-in folder under the dev artifacts bucket as a version of a throw-away model
(`<prefix>-<pipeline>-model-live-test`), checks content-idempotency and an alias move with its history, then deletes it.
The stand-in is never deployed (no endpoint here: tests/live/test_endpoint_live.py checks the endpoint).
"""

import uuid

import pytest

from components.registry.vertex_store import VertexRegistry
from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, registry_target
from release.model_tests.records import outcomes_for
from release.promotion.journal import committed
from release.promotion.moves import ModelTestGate, promote
from release.promotion.vertex_mover import VertexMover

pytestmark = pytest.mark.live


def test_register_and_promote_on_the_dev_registry():
    from google.cloud import aiplatform, storage

    config = load_environment("dev")
    run = uuid.uuid4().hex[:8]
    target = registry_target(config).model_copy(
        update={"model_name": f"{config.gcp.model_name(config.selected)}-live-{run}"}
    )
    target = target.model_copy(update={"history_uri": f"{target.history_uri}-live-{run}", "endpoint": None})
    # Recorded as the container of the never-deployed stand-in; upload does not pull it.
    repository = f"{config.gcp.region}-docker.pkg.dev/{config.gcp.project}/{config.gcp.name('images')}"
    image = f"{repository}/pipeline@sha256:{'0' * 64}"
    bucket = storage.Client(project=config.gcp.project).bucket(config.gcp.name("artifacts"))
    blob = bucket.blob(f"live-tests/registry/{run}/saved_model.pb")
    blob.upload_from_string(run)
    vertex = VertexRegistry(target)
    try:
        uri = f"gs://{bucket.name}/live-tests/registry/{run}"
        version, created = vertex.register(uri, Lineage(pipeline_run_id=f"live-{run}", image=image), blessed=True)
        assert created
        again, created = vertex.register(uri, Lineage(pipeline_run_id=f"live-{run}-2", image=image), blessed=True)
        assert not created and again.version == version.version
        mover = VertexMover(vertex)
        # The stand-in is no model: the model tests are not what this checks.
        gate = ModelTestGate(outcomes_for(target), "live-test", lambda: lambda v: None, "live-test")
        promote(mover, version.version, gate, by="live-test", reason="live")
        assert vertex.alias_version(CHAMPION) == version.version
        assert [m.to_version for m in committed(mover.entries())] == [version.version]
    finally:
        aiplatform.Model(vertex.resource).delete()
        for leftover in bucket.list_blobs(prefix=f"live-tests/registry/{run}"):
            leftover.delete()
