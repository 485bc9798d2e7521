"""Fixtures of the Vertex release-path tests: the registry and the endpoint behind request-level stand-ins."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials

from components.registry.vertex_store import VertexRegistry
from contracts.config import load_environment
from contracts.registry import registry_target
from tests.compile.vertex_fakes import FakeEndpointService, FakeModelService
from tests.gcs_emulator import client_for, running_emulator


@pytest.fixture(scope="session")
def gcs():
    with running_emulator() as endpoint:
        client = client_for(endpoint)
        for kind in ("artifacts", "registry", "pipeline-root"):
            client.create_bucket(f"penguins-dev-{kind}")
        yield client


class CreateOnly:
    """A storage client over the emulator that honours if_generation_match=0 as GCS does.

    gcp-storage-emulator ignores that precondition on uploads and rewrites (a second create succeeds), so the
    history's create-only claims and the registry's create-only copies would go untested; this refuses them
    with GCS's own PreconditionFailed.
    """

    def __init__(self, client):
        self.client = client

    def bucket(self, name):
        return _Bucket(self.client.bucket(name))

    def list_blobs(self, bucket, **kwargs):
        return self.client.list_blobs(bucket, **kwargs)


class _Bucket:
    def __init__(self, bucket):
        self._bucket = bucket
        self.name = bucket.name

    def list_blobs(self, **kwargs):
        return self._bucket.list_blobs(**kwargs)

    def blob(self, name):
        return _Blob(self._bucket.blob(name))


class _Blob:
    def __init__(self, blob):
        self._blob = blob
        self.name = blob.name

    def _create_only(self, if_generation_match):
        from google.api_core import exceptions

        if if_generation_match == 0 and self._blob.exists():
            raise exceptions.PreconditionFailed(f"{self.name}: precondition if_generation_match=0 failed")

    def upload_from_string(self, data, if_generation_match=None, **kwargs):
        self._create_only(if_generation_match)
        return self._blob.upload_from_string(data, if_generation_match=if_generation_match, **kwargs)

    def rewrite(self, source, if_generation_match=None, **kwargs):
        self._create_only(if_generation_match)
        return self._blob.rewrite(source, if_generation_match=if_generation_match, **kwargs)


@pytest.fixture
def vertex(gcs, monkeypatch, request):
    """(VertexRegistry of dev, its FakeModelService, its FakeEndpointService); history per test."""
    from google.cloud.aiplatform import initializer

    models = FakeModelService().install(monkeypatch)
    # Model.upload builds the Model it returns without the caller's credentials: it falls back to these.
    monkeypatch.setattr(initializer.global_config, "_credentials", AnonymousCredentials())
    target = registry_target(load_environment("dev", "penguins"))
    endpoint = FakeEndpointService(target.endpoint).install(monkeypatch)
    target = target.model_copy(update={"history_uri": f"{target.history_uri}/{request.node.name}"})
    credentials = AnonymousCredentials()
    registry = VertexRegistry(target, credentials=credentials, storage_client=CreateOnly(gcs))
    return registry, models, endpoint
