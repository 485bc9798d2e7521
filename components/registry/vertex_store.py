"""The Vertex AI Model Registry backend: one registered model per pipeline of an environment
(<prefix>-<pipeline>-model), a version per blessed model, the `champion` alias read from its versions
(release/promotion/ moves it).

Each version's SavedModel is copied first (create-only, content-addressed) to the registry bucket,
gs://<prefix>-registry/<model>/<sha256>/Format-Serving/, which no lifecycle rule empties; the version's `uri`
and its artifactUri point there, never at the pipeline root (whose objects expire).

Labels carry what fits their rules (content hash, commit, modules, spans, run); the whole lineage is the
version description as JSON. A version serves with its run's own pipeline image (the TensorFlow that trained
it) running the project's prediction server, unless the environment names another image.

Registering and reading only: moving `champion` (the endpoint with it, and the move journal) is
release/promotion/ (vertex_mover.py), outside the pipeline image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from components.registry import gcs
from components.registry.content import listed_sha256
from components.registry.tags import description, lineage_from_description, lineage_labels
from contracts.google_apis import aiplatform_init_arguments
from contracts.registry import (
    SERVING_MODEL_DIR,
    Lineage,
    ModelVersion,
    RegistryError,
    RegistryTarget,
    UnknownVersionError,
)

# The prediction server in the pipeline image (serving/, the same code as `nox -s serve`) in its Vertex mode:
# it reads AIP_HTTP_PORT, AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE and AIP_STORAGE_URI.
SERVER_COMMAND = ["python", "-m", "serving", "--vertex"]
SERVER_PORT = 8080


class VertexRegistry:
    def __init__(self, target: RegistryTarget, credentials: Any = None, storage_client: Any = None) -> None:
        if not (target.project and target.region and target.history_uri):
            raise RegistryError("the vertex registry needs project, region and history_uri")
        self.target = target
        self.credentials = credentials
        self._storage = storage_client
        self.resource = f"projects/{target.project}/locations/{target.region}/models/{target.model_name}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        # No lock service: registration is content-idempotent, and movers take create-only claims instead
        # (release/promotion/vertex_journal.py).
        yield

    def _init_sdk(self) -> None:
        from google.cloud import aiplatform

        region = self.target.region
        assert region is not None
        aiplatform.init(project=self.target.project, location=region, **aiplatform_init_arguments(region))

    def _registry(self):
        from google.cloud.aiplatform.models import ModelRegistry

        self._init_sdk()
        return ModelRegistry(self.resource, credentials=self.credentials)

    def _infos(self) -> list[Any]:
        from google.api_core import exceptions

        try:
            return list(self._registry().list_versions())
        except exceptions.NotFound:
            return []

    def _version(self, info: Any) -> ModelVersion:
        record = json.loads(info.version_description)
        return ModelVersion(
            version=str(info.version_id),
            content_sha256=record["content_sha256"],
            blessed=bool(record["blessed"]),
            aliases=tuple(sorted(a for a in info.version_aliases if a != "default")),
            uri=record["uri"],
            created_at=info.version_create_time.isoformat(),
            lineage=lineage_from_description(info.version_description),
        )

    def versions(self) -> list[ModelVersion]:
        return sorted((self._version(i) for i in self._infos()), key=lambda v: int(v.version))

    def register(self, model_dir: str, lineage: Lineage, *, blessed: bool) -> tuple[ModelVersion, bool]:
        """Copy the SavedModel at `model_dir` (gs://) to the registry bucket and upload a version pointing there.

        In this order, so every step can be repeated after a stop: hash (the files as listed), find an
        identical version (then nothing is sent), copy create-only to <store_uri>/<sha256>/Format-Serving
        (what an earlier attempt copied is checked and kept), upload the version with that artifactUri.
        """
        from google.cloud import aiplatform

        if not self.target.store_uri:
            raise RegistryError(f"{self.resource}: no registry store (store_uri) to copy versions to")
        client = self._storage_client()
        files = gcs.list_files(client, model_dir)
        if not files:
            raise RegistryError(f"{model_dir}: no model files to register")
        digest = listed_sha256(files, model_dir)
        existing = self.versions()
        for version in existing:
            if version.content_sha256 == digest:
                return version, False
        container = self._container(lineage)
        uri = f"{self.target.store_uri}/{digest}/{SERVING_MODEL_DIR}"
        gcs.copy_files(client, files, uri)
        text = json.loads(description(lineage))
        text.update(content_sha256=digest, blessed=blessed, uri=uri)
        self._init_sdk()
        model = aiplatform.Model.upload(
            display_name=self.target.model_name,
            # The first upload creates the model under the naming rule's id; later ones add versions to it.
            model_id=None if existing else self.target.model_name,
            parent_model=self.resource if existing else None,
            # Vertex needs one default version; `champion` (what serves) is moved by promotion.
            is_default_version=not existing,
            version_description=json.dumps(text, sort_keys=True),
            labels=lineage_labels(lineage, digest, blessed),
            # The registry's own copy: the pipeline root's lifecycle rule deletes the Trainer's output.
            artifact_uri=uri,
            **container,
            project=self.target.project,
            location=self.target.region,
            credentials=self.credentials,
        )
        return self.get(str(model.version_id)), True

    def _storage_client(self) -> Any:
        if self._storage is None:
            self._storage = gcs.storage_client(self.target.project, self.credentials)
        return self._storage

    def _container(self, lineage: Lineage) -> dict[str, Any]:
        """The serving container a version is uploaded with: the run's image unless the environment overrides it."""
        image = self.target.serving_image or lineage.image
        if not image:
            raise RegistryError(
                f"{self.resource}: no image to serve with: the run's lineage has no pipeline image and "
                "gcp.serving_image is unset"
            )
        route = f"/v1/models/{self.target.route_name or self.target.model_name}"
        return {
            "serving_container_image_uri": image,
            "serving_container_command": SERVER_COMMAND,
            "serving_container_ports": [SERVER_PORT],
            "serving_container_predict_route": f"{route}:predict",
            "serving_container_health_route": route,
        }

    def get(self, version: str) -> ModelVersion:
        for info in self._infos():
            if str(info.version_id) == version:
                return self._version(info)
        raise UnknownVersionError(f"version {version!r} of {self.resource}: no such version (or deleted)")

    def alias_version(self, alias: str) -> str | None:
        for info in self._infos():
            if alias in info.version_aliases:
                return str(info.version_id)
        return None
