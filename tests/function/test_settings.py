"""The function's settings: every backend's variables parsed, and each bad one named (settings.py)."""

from __future__ import annotations

import json
import sys

import pytest
from settings import VERTEX_VARIABLES, Settings, SettingsError

from tests.function import MODEL
from tests.function import VERTEX_ENV as INFRA_ENV

VERTEX_ENV = {**INFRA_ENV, "TEMPLATE_URI": f"gs://penguins-dev-artifacts/templates/{'a' * 64}/pipeline.json"}


def test_settings_parse_every_backend():
    settings = Settings.from_env({**VERTEX_ENV, "NETWORK": "projects/1/global/networks/vpc"})
    assert (settings.backend, settings.pipeline_name, settings.network) == (
        "vertex",
        "penguins-dev",
        "projects/1/global/networks/vpc",
    )
    assert settings.template_uri == VERTEX_ENV["TEMPLATE_URI"]
    assert settings.environment_values() == json.loads(VERTEX_ENV["ENVIRONMENT_PARAMETERS"])
    assert settings.model == MODEL
    pointer = Settings.from_env({**INFRA_ENV, "ARTIFACTS_URI": "gs://penguins-dev-artifacts", "PIPELINE": "penguins"})
    assert (pointer.template_uri, pointer.artifacts_uri) == (None, "gs://penguins-dev-artifacts")
    # Job ids start with PIPELINE_NAME, else the function's pipeline, else "pipeline" (no pipeline's name built in).
    assert Settings.from_env({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/x"}).pipeline_name == "pipeline"
    dry_diabetes = {"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/x", "PIPELINE": "diabetes"}
    assert Settings.from_env(dry_diabetes).pipeline_name == "diabetes"
    assert Settings.from_env({"TRIGGER_BACKEND": "local"}).local_env_file is None
    assert Settings.from_env({"TRIGGER_BACKEND": " local ", "LOCAL_ROOT": "/r"}).local_root is not None


@pytest.mark.parametrize(
    ("bad", "variable"),
    [
        ({"TEMPLATE_URI": "gs://b/templates/x:latest"}, "TEMPLATE_URI"),
        ({"TEMPLATE_URI": "europe-west4-kfp.pkg.dev/p/r/penguins/latest"}, "TEMPLATE_URI"),
        ({"PIPELINE_ROOT": "/local/root"}, "PIPELINE_ROOT"),
        ({"SERVICE_ACCOUNT": "pipeline"}, "SERVICE_ACCOUNT"),
        ({"PROJECT": "  "}, "PROJECT"),
    ],
)
def test_bad_vertex_settings_name_the_variable(bad, variable):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({**VERTEX_ENV, **bad})


def _environment(change):
    values = json.loads(INFRA_ENV["ENVIRONMENT_PARAMETERS"])
    change(values)
    return json.dumps(values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "ENVIRONMENT_PARAMETERS: Expecting"),
        ("[]", "expected a JSON object"),
        (_environment(lambda v: v.pop("gate_bound")), "missing gate_bound"),
        (_environment(lambda v: v.update(baseline_model="gs://x")), "unknown baseline_model"),
        (_environment(lambda v: v.update(registry='{"backend": "mlflow", "model_name": "m", "auto_promote": true}')),
         "registry is 'mlflow'"),
        (_environment(lambda v: v.update(registry="{}")), "ENVIRONMENT_PARAMETERS: .*validation error"),
    ],
)  # fmt: skip
def test_bad_environment_parameters_are_named(text, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**VERTEX_ENV, "ENVIRONMENT_PARAMETERS": text})


def test_vertex_needs_the_pointer_or_a_pin():
    with pytest.raises(SettingsError, match=r"needs ARTIFACTS_URI .* or TEMPLATE_URI"):
        Settings.from_env(INFRA_ENV)


def test_vertex_needs_every_variable_infra_sets():
    for name in VERTEX_VARIABLES:
        with pytest.raises(SettingsError, match=f"TRIGGER_BACKEND=vertex needs {name}"):
            Settings.from_env({k: v for k, v in VERTEX_ENV.items() if k != name})


def test_the_local_backend_outside_the_repository_is_a_clear_error(monkeypatch):
    import local

    monkeypatch.setitem(sys.modules, "localcloud.run_service", None)  # Its import now fails, as in the archive.
    with pytest.raises(SettingsError, match="only from a checkout of the repository"):
        local.LocalBackend(Settings(backend="local"))
