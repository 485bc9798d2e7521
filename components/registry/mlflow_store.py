"""The local registry backend: the MLflow Model Registry on a SQLite file under the local root.

    <local root>/registry/mlflow.db                  versions, aliases, lineage tags, the runs (`mlflow ui`)
    <local root>/registry/artifacts/<sha256>/        each version, content-addressed: an MLflow model folder
                                                     (MLmodel, code/) around its SavedModel in Format-Serving/
    <local root>/registry/mlruns/                    the pipeline experiment's artifact location (runs log none)

A version is an MLflow model (components/registry/mlflow_model.py) linked to the MLflow run of the pipeline
run that trained it (components/registry/mlflow_runs.py), so `models:/<name>@champion` loads it.

Registering and reading only: what moves an alias, its journal and the alias pointers (in models/<name>/ of
this folder, one per registered model), is release/promotion/ (local_mover.py), outside the pipeline image.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from components.registry.content import tree_sha256
from components.registry.mlflow_model import write_mlflow_model
from components.registry.mlflow_runs import find_run
from components.registry.tags import lineage_from_tags, lineage_tags
from contracts.registry import (
    SERVING_MODEL_DIR,
    Lineage,
    ModelVersion,
    RegistryError,
    RegistryTarget,
    UnknownVersionError,
)


class MlflowRegistry:
    def __init__(self, target: RegistryTarget) -> None:
        if target.root is None:
            raise RegistryError("the mlflow registry needs a root folder")
        self.target = target
        self.root = Path(target.root)
        self.name = target.model_name
        self.artifacts = Path(target.store_uri) if target.store_uri else self.root / "artifacts"
        self._client = None

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time per registry: pushes, promotions and rollbacks of every process."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self.root.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def register(self, model_dir: str, lineage: Lineage, *, blessed: bool) -> tuple[ModelVersion, bool]:
        digest = tree_sha256(model_dir)
        with self.locked():
            for existing in self.versions():
                if existing.content_sha256 == digest:
                    return existing, False
            client = self.client()
            run_id = lineage.mlflow_run_id or find_run(client, self.name, lineage.pipeline_run_id)
            lineage = lineage.model_copy(update={"mlflow_run_id": run_id})
            stored = self._store_artifacts(model_dir, digest, run_id)
            if not client.search_registered_models(f"name = '{self.name}'"):
                client.create_registered_model(self.name, description="Blessed models of the pipeline")
            created = client.create_model_version(
                self.name,
                source=str(stored),
                # Links the version to the MLflow run of the pipeline run that trained it (`mlflow ui`).
                run_id=run_id,
                tags=lineage_tags(lineage, digest, blessed),
                description=f"pipeline run {lineage.pipeline_run_id}",
            )
            return self._version(created), True

    def _store_artifacts(self, model_dir: str, digest: str, run_id: str | None) -> Path:
        """Build the version's MLflow model folder beside the store and rename it to artifacts/<sha256>/ in one
        step, so a half copy is never registered; identical content is stored once."""
        dest = self.artifacts / digest
        if dest.is_dir():
            if not (dest / SERVING_MODEL_DIR).is_dir():
                raise RegistryError(
                    f"{dest}: holds a model in an earlier layout (no {SERVING_MODEL_DIR}/); remove the folder "
                    "(no version uses it) and push again"
                )
            return dest
        self.artifacts.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.artifacts))
        try:
            shutil.copytree(model_dir, tmp / SERVING_MODEL_DIR)
            write_mlflow_model(tmp, run_id=run_id, content_sha256=digest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    def _version(self, mv, aliases: tuple[str, ...] | None = None) -> ModelVersion:
        tags = dict(mv.tags)
        return ModelVersion(
            version=str(mv.version),
            content_sha256=tags["content_sha256"],
            blessed=tags.get("blessed") == "true",
            aliases=tuple(sorted(mv.aliases)) if aliases is None else aliases,
            # The MLflow model folder is the version's source; its SavedModel is the folder inside.
            uri=f"{mv.source}/{SERVING_MODEL_DIR}",
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).isoformat(),
            lineage=lineage_from_tags(tags),
        )

    def versions(self) -> list[ModelVersion]:
        if not (self.root / "mlflow.db").exists():
            return []
        client = self.client()
        found = client.search_model_versions(f"name = '{self.name}'")
        # MLflow's search leaves the versions' aliases empty (only get_model_version fills them): take them from
        # the registered model's alias map instead.
        models = client.search_registered_models(f"name = '{self.name}'")
        by_version: dict[str, list[str]] = {}
        for alias, version in (models[0].aliases if models else {}).items():
            by_version.setdefault(str(version), []).append(alias)
        return sorted(
            (self._version(mv, tuple(sorted(by_version.get(str(mv.version), [])))) for mv in found),
            key=lambda v: int(v.version),
        )

    def get(self, version: str) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        if not version.isdigit():
            raise UnknownVersionError(f"version {version!r}: local versions are numbers (see `models list`)")
        if not (self.root / "mlflow.db").exists():
            raise UnknownVersionError(f"version {version}: the registry at {self.root} is empty")
        try:
            return self._version(self.client().get_model_version(self.name, version))
        except MlflowException as err:
            raise UnknownVersionError(f"version {version} of {self.name}: no such version (or deleted)") from err

    def alias_version(self, alias: str) -> str | None:
        if not (self.root / "mlflow.db").exists():
            return None
        models = self.client().search_registered_models(f"name = '{self.name}'")
        value = models[0].aliases.get(alias) if models else None
        return None if value is None else str(value)
