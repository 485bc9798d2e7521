"""The environment configuration schema.

Every value a runner, CI step or infra stack needs about an environment lives here, validated once.
Unknown keys are rejected so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipelines.parameters import LEARNING_RATE, NUM_EPOCHS

REPO_ROOT = Path(__file__).resolve().parents[1]

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_NAME = r"^[a-z][a-z0-9-]{0,20}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Training(_Strict):
    """Default hyperparameters for runs that do not set their own."""

    num_epochs: int = Field(int(NUM_EPOCHS.default), ge=NUM_EPOCHS.minimum, le=NUM_EPOCHS.maximum)
    learning_rate: float = Field(
        float(LEARNING_RATE.default), gt=LEARNING_RATE.minimum, le=LEARNING_RATE.maximum, allow_inf_nan=False
    )


class Evaluation(_Strict):
    """Release gates applied by the Evaluator."""

    min_accuracy: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    # How much accuracy a candidate may lose against the current champion and still be blessed.
    max_accuracy_drop: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class LocalPaths(_Strict):
    """Where the local environment keeps its state: everything under one root folder."""

    root: Path

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline-root"

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata" / "metadata.sqlite"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def staged(self) -> Path:
        """Content-addressed copies of modules and schema that runs reference."""
        return self.root / "staged"


class Local(_Strict):
    # Relative paths are resolved against the repository root.
    root: Path = Path(".local")


class Gcp(_Strict):
    project: str
    region: str
    name_prefix: str = Field(pattern=_NAME)
    # VPC network for pipeline jobs (projects/<number>/global/networks/<name>); none: Google's default.
    network: str | None = None

    def name(self, kind: str) -> str:
        """The one naming rule for every resource: <name_prefix>-<kind>, e.g. penguins-dev-artifacts."""
        return f"{self.name_prefix}-{kind}"

    def bucket_uri(self, kind: str) -> str:
        return f"gs://{self.name(kind)}"

    @property
    def pipeline_service_account(self) -> str:
        """The account Vertex runs pipelines as (created by infra under the naming rule)."""
        return f"{self.name('pipeline')}@{self.project}.iam.gserviceaccount.com"

    @model_validator(mode="after")
    def _check_project(self) -> Gcp:
        if not _PROJECT_ID.match(self.project):
            raise ValueError(
                f"project {self.project!r} is not a Google Cloud project id "
                "(6-30 lowercase letters, digits or hyphens, starting with a letter)"
            )
        return self


class EnvironmentConfig(_Strict):
    name: Literal["local", "dev", "prod"]
    backend: Literal["local", "vertex"]
    pipeline_name: str = Field(pattern=_NAME)
    dataset: str = Field("penguins", pattern=_NAME)
    training: Training = Training()
    evaluation: Evaluation
    local: Local | None = None
    gcp: Gcp | None = None

    @model_validator(mode="after")
    def _backend_has_settings(self) -> EnvironmentConfig:
        if self.backend == "local" and self.local is None:
            raise ValueError("backend 'local' needs a 'local' section")
        if self.backend == "vertex" and self.gcp is None:
            raise ValueError("backend 'vertex' needs a 'gcp' section")
        return self

    def local_paths(self, root_override: Path | None = None) -> LocalPaths:
        """The local state folders; `root_override` (e.g. from --local-root) wins over the file."""
        root = root_override or (self.local.root if self.local else Local().root)
        if not root.is_absolute():
            root = REPO_ROOT / root
        return LocalPaths(root=root.resolve())
