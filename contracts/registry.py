"""The model registry contract: a registered version with its lineage, alias moves, and the errors.

One shape for both backends (the MLflow Model Registry locally, the Vertex AI Model Registry on Google
Cloud), so the push component, the `models` commands and the server read the same records whichever
backend holds them. Standard library and pydantic only: a leaf of the repository like every contract.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.environment import EnvironmentConfig, Serving

# The alias the server serves.
CHAMPION = "champion"
# A canary's version: it serves `AliasMove.percent` of the traffic beside the champion while it is not the champion
# (release/promotion/canary.py); once promoted it is the champion too, and a rolled-back one points back at it.
CANDIDATE = "candidate"
# The SavedModel's folder inside a TFX Model artifact (tfx path_constants.SERVING_MODEL_DIR): a version's `uri`
# ends in it, and its parent is the Model artifact root an Evaluator takes as its baseline.
SERVING_MODEL_DIR = "Format-Serving"
_SHA256 = r"^[0-9a-f]{64}$"
_ALIAS = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class RegistryError(Exception):
    """A registry request that cannot be carried out; the message names the version or alias. Nothing changed."""


class UnknownVersionError(RegistryError):
    """No such version (or it was deleted)."""


class NotPromotableError(RegistryError):
    """The version exists but may not take the alias (not blessed, deleted, approval missing, smoke test failed)."""


class SmokeTestFailedError(NotPromotableError):
    """The candidate did not load or predict correctly on the shipped records; the alias did not move."""


class NoEarlierChampionError(RegistryError):
    """A rollback with nothing to roll back to."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(_Frozen):
    """One data span a model was trained on, and the sha256 of its files (sorted by name, name and bytes)."""

    number: int = Field(ge=1)
    sha256: str = Field(pattern=_SHA256)


class Lineage(_Frozen):
    """Where a model version came from. Values a run does not know (no image on a local run) are None."""

    pipeline_run_id: str
    commit: str | None = None
    # Whether the working tree had uncommitted changes to tracked files when the run started (None: unknown).
    dirty: bool | None = None
    modules: str | None = None
    image: str | None = None
    template: str | None = None
    # Where the run's template came from (pointer, pin, explicit) and the champion its gate compared against
    # (a version, or "none"): the run's labels, from its submitter (contracts.run_request.submission_labels).
    template_source: str | None = None
    baseline: str | None = None
    source: str | None = None
    spans: tuple[Span, ...] = ()
    parameters: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    baseline_metrics: dict[str, float] = {}
    # Local runs: the MLflow run the pipeline run is recorded as (its parameters, metrics and lineage tags).
    mlflow_run_id: str | None = None


class ModelVersion(_Frozen):
    version: str
    # sha256 over the SavedModel's files: identical files are the same version.
    content_sha256: str = Field(pattern=_SHA256)
    blessed: bool
    aliases: tuple[str, ...] = ()
    # The version's SavedModel: <registry store>/<content_sha256>/Format-Serving (a local folder or a gs://
    # prefix in the registry bucket), a copy the registry owns and never deletes.
    uri: str
    created_at: str
    lineage: Lineage

    @field_validator("uri")
    @classmethod
    def _serving_folder(cls, value: str) -> str:
        if not value.rstrip("/").endswith(f"/{SERVING_MODEL_DIR}"):
            raise ValueError(f"uri {value!r}: expected the SavedModel folder, ending in /{SERVING_MODEL_DIR}")
        return value.rstrip("/")


def model_root(serving_uri: str) -> str:
    """The TFX Model artifact root of a SavedModel folder ending in /Format-Serving: what an Evaluator takes as its
    baseline. ValueError naming the folder otherwise (a version registered before the registry kept such copies)."""
    root, _, folder = serving_uri.rstrip("/").rpartition("/")
    if folder != SERVING_MODEL_DIR or not root:
        raise ValueError(f"{serving_uri!r}: not a model's {SERVING_MODEL_DIR} folder, so not usable as a baseline")
    return root


def baseline_uri(version: ModelVersion) -> str:
    """The TFX Model artifact root of `version` (the folder holding Format-Serving/): an Evaluator's baseline."""
    return model_root(version.uri)


class AliasMove(_Frozen):
    """One move of an alias, as the move journal records it (release/promotion/journal.py)."""

    alias: str
    from_version: str | None
    to_version: str
    at: str
    by: str
    reason: str
    # canary: the candidate alias moved onto a version that then serves `percent` of the traffic.
    kind: Literal["promote", "rollback", "canary"]
    # Who approved it, where the environment requires approval; None where promotion is automatic.
    approved_by: str | None = None
    # A canary's share of the traffic, in percent (kind canary).
    percent: int | None = Field(None, ge=1, le=99)
    # The figures that decided a canary's end (the monitor's comparison of candidate and champion).
    figures: dict[str, Any] | None = None
    # What the move did to serving (Vertex: deployed, or switched traffic on the endpoint); None: no endpoint.
    serving: str | None = None


class RegistryTarget(_Frozen):
    """Which registry a pipeline pushes to and the commands read, fixed from the environment config."""

    backend: Literal["mlflow", "vertex"]
    model_name: str
    # Blessed versions become champion at once (local, dev); False: promotion needs a recorded approval (prod).
    auto_promote: bool
    # mlflow: the registry folder (mlflow.db and the artifacts beside it).
    root: str | None = None
    # Where registration copies each version, create-only, as <store_uri>/<content sha256>/Format-Serving/:
    # gs://<prefix>-registry/<model name> on Vertex (a bucket no lifecycle rule empties), <root>/artifacts locally.
    store_uri: str | None = None
    # vertex: where the registry is, and the create-only alias history (gs://<prefix>-registry/<model>/history).
    project: str | None = None
    region: str | None = None
    history_uri: str | None = None
    # vertex: the Pub/Sub topic a registered version is announced on, the pipeline's own (projects/<project>/
    # topics/<prefix>-<pipeline>-model-registered), with the attributes version, model and run; what promotes
    # it (the pipeline's autopromote trigger) listens there.
    topic: str | None = None
    # vertex: an explicit serving container (gcp.serving_image); None: the version's own pipeline image.
    serving_image: str | None = None
    # vertex: the endpoint the champion serves on (Gcp.endpoint), how, and the route name the server answers
    # on (/v1/models/<pipeline_name>:predict, as the local server).
    endpoint: str | None = None
    serving: Serving | None = None
    route_name: str | None = None
    serving_service_account: str | None = None


def registry_target(config: EnvironmentConfig, local_root: Path | None = None) -> RegistryTarget:
    """The registry of environment `config`: Vertex AI where it has a gcp section, else MLflow under the local root."""
    if config.gcp is not None:
        gcp = config.gcp
        # The pipeline's own model and endpoint (Gcp.model_name, Gcp.endpoint: the per-pipeline naming rule).
        model = gcp.model_name(config.selected)
        return RegistryTarget(
            backend="vertex",
            model_name=model,
            auto_promote=config.release.auto_promote,
            project=gcp.project,
            region=gcp.region,
            store_uri=f"{gcp.bucket_uri('registry')}/{model}",
            history_uri=f"{gcp.bucket_uri('registry')}/{model}/history",
            topic=f"projects/{gcp.project}/topics/{gcp.pipeline_resource(config.selected, 'model-registered')}",
            serving_image=gcp.serving_image,
            endpoint=gcp.endpoint(config.selected),
            serving=config.release.serving,
            route_name=config.pipeline_name,
            serving_service_account=gcp.serving_service_account,
        )
    registry = config.local_paths(local_root).registry
    return RegistryTarget(
        backend="mlflow",
        model_name=config.pipeline_name,
        auto_promote=config.release.auto_promote,
        root=str(registry),
        store_uri=str(registry / "artifacts"),
    )


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise RegistryError(f"alias {alias!r}: lowercase letters, digits and '-', starting with a letter")
    return alias


class Registry(Protocol):
    """What both backends do. `register` is content-idempotent: identical files return the existing version;
    a new one is first copied, create-only, to `<target.store_uri>/<content sha256>/Format-Serving`.

    Registering and reading only: moving an alias, and the history of moves, is release/promotion/'s.
    """

    target: RegistryTarget

    def locked(self) -> AbstractContextManager[None]: ...

    def register(self, model_dir: str, lineage: Lineage, *, blessed: bool) -> tuple[ModelVersion, bool]: ...

    def versions(self) -> list[ModelVersion]: ...

    def get(self, version: str) -> ModelVersion: ...

    def alias_version(self, alias: str) -> str | None: ...
