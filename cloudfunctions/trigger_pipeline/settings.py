"""The function's settings: environment variables, as Cloud Functions passes them, parsed and checked.

infra/parts/trigger.py sets them for a deployment (TRIGGER_BACKEND=vertex, by `function_environment`);
localcloud/pubsub.py for a local server (TRIGGER_BACKEND=local); tests and load benchmarks use
TRIGGER_BACKEND=dry-run. The vertex backend's:

    PROJECT, REGION, PIPELINE_ROOT, SERVICE_ACCOUNT, NETWORK (optional)   where and as whom a job runs
    ENVIRONMENT_PARAMETERS   the environment's values for the one template, as JSON
                             (contracts.environment_parameters.environment_values)
    ARTIFACTS_URI, PIPELINE  where the pipeline's current-template pointer is
                             (ARTIFACTS_URI/templates/current/<PIPELINE>.json), read per message
    TEMPLATE_URI             a pinned template (pipelines.<name>.template_sha256): set only for a pin, which wins

PIPELINE is also the pipeline the function runs, for every backend: a message whose `pipeline` names another is
refused (main.py). Unset (a dry run, a pinned template): messages are not checked against one.
PIPELINE_NAME is what job ids start with (infra sets <pipeline>-<env>); unset, the PIPELINE, else "pipeline".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.environment_parameters import REGISTRY, ParameterValue, check_environment_values
from contracts.registry import RegistryTarget
from contracts.run_request import SubmissionError, check_immutable_template
from contracts.trigger_message import PIPELINE_PATTERN

BACKENDS = ("vertex", "local", "dry-run")
# Job ids' prefix when neither PIPELINE_NAME nor PIPELINE is set (a dry run of no pipeline in particular).
DEFAULT_PIPELINE_NAME = "pipeline"
# What the vertex backend cannot do without (NETWORK is optional; TEMPLATE_URI or ARTIFACTS_URI); infra sets them.
VERTEX_VARIABLES = ("PROJECT", "REGION", "PIPELINE_ROOT", "SERVICE_ACCOUNT", "ENVIRONMENT_PARAMETERS")
_PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,59}$")


class SettingsError(RuntimeError):
    """The function's settings (environment variables) are missing or invalid: a deployment problem."""


@dataclass(frozen=True)
class Settings:
    """What the chosen backend needs. Frozen and hashable: one backend is kept per distinct settings."""

    backend: str
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    dry_run_log: Path | None = None
    template_uri: str | None = None
    artifacts_uri: str | None = None
    # The pipeline (its folder name) whose current-template pointer ARTIFACTS_URI holds.
    pipeline: str | None = None
    # ENVIRONMENT_PARAMETERS as given (checked); `environment_values()` parses it. Text keeps Settings hashable.
    environment_parameters: str | None = None
    project: str | None = None
    region: str | None = None
    pipeline_root: str | None = None
    service_account: str | None = None
    network: str | None = None
    local_env_file: Path | None = None
    local_root: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse and check the variables the chosen backend needs; raises SettingsError naming the variable."""
        variables = _Variables(environ)
        backend = variables.get("TRIGGER_BACKEND")
        if backend not in BACKENDS:
            got = "is not set" if backend is None else f"is {backend!r}"
            raise SettingsError(f"TRIGGER_BACKEND {got}: choose one of {', '.join(BACKENDS)}")
        # The pipeline this function runs (a message naming another is refused); every backend may be told it.
        pipeline = variables.get("PIPELINE")
        if pipeline is not None and not re.fullmatch(PIPELINE_PATTERN, pipeline):
            raise SettingsError(f"PIPELINE {pipeline!r}: a pipeline's name (2-20 lowercase letters and digits)")
        pipeline_name = variables.get("PIPELINE_NAME") or pipeline or DEFAULT_PIPELINE_NAME
        if not _PIPELINE_NAME.match(pipeline_name):
            raise SettingsError(
                f"PIPELINE_NAME {pipeline_name!r}: use lowercase letters, digits and '-', start with a letter, <= 60"
            )
        if backend == "dry-run":
            log = Path(variables.require(backend, "DRY_RUN_LOG")[0])
            return cls(backend, pipeline_name, dry_run_log=log, pipeline=pipeline)
        if backend == "local":
            env_file, root = variables.get("LOCAL_ENV_FILE"), variables.get("LOCAL_ROOT")
            return cls(
                backend,
                pipeline_name,
                # Which pipeline of the environment the local submitter runs (its only one when not set).
                pipeline=pipeline,
                local_env_file=Path(env_file) if env_file else None,
                local_root=Path(root) if root else None,
            )
        return cls._vertex(variables, pipeline_name, pipeline)

    @classmethod
    def _vertex(cls, variables: _Variables, pipeline_name: str, pipeline: str | None) -> Settings:
        project, region, root, account, parameters = variables.require("vertex", *VERTEX_VARIABLES)
        template, artifacts = variables.get("TEMPLATE_URI"), variables.get("ARTIFACTS_URI")
        if template is None and artifacts is None:
            raise SettingsError(
                "TRIGGER_BACKEND=vertex needs ARTIFACTS_URI (where the current-template pointer is) or TEMPLATE_URI"
            )
        if template is None and pipeline is None:
            raise SettingsError("PIPELINE is not set: ARTIFACTS_URI holds one pointer per pipeline; name the pipeline")
        if template is not None:
            try:
                check_immutable_template(template)
            except SubmissionError as err:
                raise SettingsError(f"TEMPLATE_URI: {err}") from None
        if not root.startswith("gs://"):
            raise SettingsError(f"PIPELINE_ROOT {root!r}: expected a gs:// URI")
        if "@" not in account:
            raise SettingsError(f"SERVICE_ACCOUNT {account!r}: expected a service account email")
        _environment(parameters)
        return cls(
            "vertex",
            pipeline_name,
            template_uri=template,
            artifacts_uri=artifacts,
            pipeline=pipeline,
            environment_parameters=parameters,
            project=project,
            region=region,
            pipeline_root=root,
            service_account=account,
            network=variables.get("NETWORK"),
        )

    def environment_values(self) -> dict[str, ParameterValue]:
        """ENVIRONMENT_PARAMETERS: the environment's values for the template (all but the run's baseline)."""
        assert self.environment_parameters is not None
        return _environment(self.environment_parameters)

    @property
    def model(self) -> str:
        """The registry model whose champion is a run's baseline: projects/P/locations/R/models/<name>."""
        target = RegistryTarget.model_validate_json(str(self.environment_values()[REGISTRY]))
        return f"projects/{target.project}/locations/{target.region}/models/{target.model_name}"


def _environment(text: str) -> dict[str, ParameterValue]:
    """ENVIRONMENT_PARAMETERS parsed and checked; SettingsError naming what is wrong."""
    try:
        values: Any = json.loads(text)
        checked = check_environment_values(values)
        target = RegistryTarget.model_validate_json(str(checked[REGISTRY]))
    except ValueError as err:  # a JSON or pydantic error, or a missing/unknown/mistyped parameter
        raise SettingsError(f"ENVIRONMENT_PARAMETERS: {err}") from None
    if target.backend != "vertex":
        raise SettingsError(f"ENVIRONMENT_PARAMETERS: registry is {target.backend!r}; the vertex backend needs vertex")
    return checked


@dataclass(frozen=True)
class _Variables:
    environ: Mapping[str, str]

    def get(self, name: str) -> str | None:
        """The variable's value, or None when it is unset or blank."""
        return self.environ.get(name, "").strip() or None

    def require(self, backend: str, *names: str) -> list[str]:
        """The values of `names`, all set; SettingsError naming every missing one otherwise."""
        values = [self.get(name) for name in names]
        missing = [name for name, value in zip(names, values, strict=True) if value is None]
        if missing:
            raise SettingsError(f"TRIGGER_BACKEND={backend} needs {', '.join(missing)}")
        return [value for value in values if value is not None]
