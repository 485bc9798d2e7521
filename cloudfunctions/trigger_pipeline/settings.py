"""The function's settings: environment variables, as Cloud Functions passes them, parsed and checked.

infra/parts/trigger.py sets them for a deployment (TRIGGER_BACKEND=vertex); localcloud/pubsub.py for a local
server (TRIGGER_BACKEND=local); tests and load benchmarks use TRIGGER_BACKEND=dry-run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contracts.run_request import SubmissionError, check_immutable_template

BACKENDS = ("vertex", "local", "dry-run")
DEFAULT_PIPELINE_NAME = "penguins"
# What the vertex backend cannot do without (NETWORK is optional); infra sets every one of them.
VERTEX_VARIABLES = ("TEMPLATE_URI", "PROJECT", "REGION", "PIPELINE_ROOT", "SERVICE_ACCOUNT")
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
        pipeline_name = variables.get("PIPELINE_NAME") or DEFAULT_PIPELINE_NAME
        if not _PIPELINE_NAME.match(pipeline_name):
            raise SettingsError(
                f"PIPELINE_NAME {pipeline_name!r}: use lowercase letters, digits and '-', start with a letter, <= 60"
            )
        if backend == "dry-run":
            return cls(backend, pipeline_name, dry_run_log=Path(variables.require(backend, "DRY_RUN_LOG")[0]))
        if backend == "local":
            env_file, root = variables.get("LOCAL_ENV_FILE"), variables.get("LOCAL_ROOT")
            return cls(
                backend,
                pipeline_name,
                local_env_file=Path(env_file) if env_file else None,
                local_root=Path(root) if root else None,
            )
        return cls._vertex(variables, pipeline_name)

    @classmethod
    def _vertex(cls, variables: _Variables, pipeline_name: str) -> Settings:
        template, project, region, root, account = variables.require("vertex", *VERTEX_VARIABLES)
        try:
            check_immutable_template(template)
        except SubmissionError as err:
            raise SettingsError(f"TEMPLATE_URI: {err}") from None
        if not root.startswith("gs://"):
            raise SettingsError(f"PIPELINE_ROOT {root!r}: expected a gs:// URI")
        if "@" not in account:
            raise SettingsError(f"SERVICE_ACCOUNT {account!r}: expected a service account email")
        return cls(
            "vertex",
            pipeline_name,
            template_uri=template,
            project=project,
            region=region,
            pipeline_root=root,
            service_account=account,
            network=variables.get("NETWORK"),
        )


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
