"""The function's settings: every backend's variables parsed, and each bad one named (settings.py)."""

from __future__ import annotations

import sys

import pytest
from settings import VERTEX_VARIABLES, Settings, SettingsError

VERTEX_ENV = {
    "TRIGGER_BACKEND": "vertex",
    "TEMPLATE_URI": f"gs://penguins-dev-artifacts/templates/{'a' * 64}/pipeline.json",
    "PROJECT": "my-dev-project",
    "REGION": "europe-west4",
    "PIPELINE_ROOT": "gs://penguins-dev-pipeline-root/penguins-dev",
    "SERVICE_ACCOUNT": "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com",
    "PIPELINE_NAME": "penguins-dev",
}


def test_settings_parse_every_backend():
    settings = Settings.from_env({**VERTEX_ENV, "NETWORK": "projects/1/global/networks/vpc"})
    assert (settings.backend, settings.pipeline_name, settings.network) == (
        "vertex",
        "penguins-dev",
        "projects/1/global/networks/vpc",
    )
    assert settings.template_uri == VERTEX_ENV["TEMPLATE_URI"]
    assert Settings.from_env({"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": "/x"}).pipeline_name == "penguins"
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


def test_vertex_needs_every_variable_infra_sets():
    for name in VERTEX_VARIABLES:
        with pytest.raises(SettingsError, match=f"TRIGGER_BACKEND=vertex needs {name}"):
            Settings.from_env({k: v for k, v in VERTEX_ENV.items() if k != name})


def test_the_local_backend_outside_the_repository_is_a_clear_error(monkeypatch):
    import local

    monkeypatch.setitem(sys.modules, "localcloud.run_service", None)  # Its import now fails, as in the archive.
    with pytest.raises(SettingsError, match="only from a checkout of the repository"):
        local.LocalBackend(Settings(backend="local"))
