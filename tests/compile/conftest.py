"""Fixtures of the Vertex release-path tests: the registry and the endpoint behind request-level stand-ins."""

from __future__ import annotations

import hashlib

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
        client.create_bucket("penguins-dev-artifacts")
        yield client


def fake_hash(uri: str) -> str:
    """The content address of a stand-in model URI: its last segment names its content."""
    return hashlib.sha256(uri.rsplit("/", 1)[-1].encode()).hexdigest()


@pytest.fixture
def vertex(gcs, monkeypatch, request):
    """(VertexRegistry of dev, its FakeModelService, its FakeEndpointService); history per test."""
    from google.cloud.aiplatform import initializer

    models = FakeModelService().install(monkeypatch)
    # Model.upload builds the Model it returns without the caller's credentials: it falls back to these.
    monkeypatch.setattr(initializer.global_config, "_credentials", AnonymousCredentials())
    target = registry_target(load_environment("dev"))
    endpoint = FakeEndpointService(target.endpoint).install(monkeypatch)
    target = target.model_copy(update={"history_uri": f"{target.history_uri}/{request.node.name}"})
    registry = VertexRegistry(target, credentials=AnonymousCredentials(), storage_client=gcs, content_hash=fake_hash)
    return registry, models, endpoint
