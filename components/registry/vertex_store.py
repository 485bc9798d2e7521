"""The Vertex AI Model Registry backend: one registered model per environment (<prefix>-model), a version per
blessed model, the `champion` alias moved with ModelRegistry.

Labels carry what fits their rules (content hash, commit, modules, spans, run); the whole lineage is the
version description as JSON. Vertex keeps only the current aliases, so every move is also written as a
create-only object, history/<sequence>.json, in the artifacts bucket: two movers cannot take the same
sequence number, so the history has one order and the alias follows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from components.registry.content import tree_sha256
from components.registry.tags import description, lineage_from_description, lineage_labels
from contracts.registry import AliasMove, Lineage, ModelVersion, RegistryError, RegistryTarget, UnknownVersionError

# Vertex's prebuilt TensorFlow serving image, for deploying a version to an endpoint.


class VertexRegistry:
    def __init__(
        self,
        target: RegistryTarget,
        credentials: Any = None,
        storage_client: Any = None,
        content_hash: Callable[[str], str] = tree_sha256,
    ) -> None:
        if not (target.project and target.region and target.history_uri):
            raise RegistryError("the vertex registry needs project, region and history_uri")
        self.target = target
        self.credentials = credentials
        self._storage = storage_client
        # The SavedModel's files are on GCS; tests hash their stand-in URIs without a GCS filesystem.
        self._content_hash = content_hash
        self.resource = f"projects/{target.project}/locations/{target.region}/models/{target.model_name}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        # No lock service: the create-only history object in move_alias decides between concurrent movers.
        yield

    def _registry(self):
        from google.cloud.aiplatform.models import ModelRegistry

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
        from google.cloud import aiplatform

        digest = self._content_hash(model_dir)
        existing = self.versions()
        for version in existing:
            if version.content_sha256 == digest:
                return version, False
        text = json.loads(description(lineage))
        text.update(content_sha256=digest, blessed=blessed, uri=model_dir)
        model = aiplatform.Model.upload(
            display_name=self.target.model_name,
            # The first upload creates the model under the naming rule's id; later ones add versions to it.
            model_id=None if existing else self.target.model_name,
            parent_model=self.resource if existing else None,
            # Vertex needs one default version; `champion` (what serves) is moved by promotion.
            is_default_version=not existing,
            version_description=json.dumps(text, sort_keys=True),
            labels=lineage_labels(lineage, digest, blessed),
            artifact_uri=model_dir,
            serving_container_image_uri=self.target.serving_image,
            project=self.target.project,
            location=self.target.region,
            credentials=self.credentials,
        )
        return self.get(str(model.version_id)), True

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

    def _bucket_and_prefix(self) -> tuple[Any, str]:
        from google.cloud import storage

        bucket, _, prefix = self.target.history_uri.removeprefix("gs://").partition("/")  # type: ignore[union-attr]
        client = self._storage or storage.Client(project=self.target.project, credentials=self.credentials)
        return client.bucket(bucket), prefix.rstrip("/")

    def move_alias(self, move: AliasMove) -> AliasMove:
        from google.api_core import exceptions

        current = self.alias_version(move.alias)
        if current != move.from_version:
            raise RegistryError(f"{move.alias} moved to {current} meanwhile (expected {move.from_version}); retry")
        bucket, prefix = self._bucket_and_prefix()
        blob = bucket.blob(f"{prefix}/{len(self.history()) + 1:08d}.json")
        try:
            blob.upload_from_string(move.model_dump_json(), if_generation_match=0, content_type="application/json")
        except exceptions.PreconditionFailed as err:
            raise RegistryError(f"another move of {move.alias} was recorded first; nothing changed, retry") from err
        # Applying an alias another version holds moves it (Vertex keeps aliases unique within a model).
        self._registry().add_version_aliases([move.alias], version=move.to_version)
        return move

    def history(self) -> list[AliasMove]:
        bucket, prefix = self._bucket_and_prefix()
        blobs = sorted(bucket.list_blobs(prefix=f"{prefix}/"), key=lambda b: b.name)
        return [AliasMove.model_validate_json(b.download_as_bytes()) for b in blobs if b.name.endswith(".json")]
