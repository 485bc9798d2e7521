"""The local registry's store: each version an MLflow model folder around its SavedModel, content-addressed,
linked to the MLflow run of its pipeline run, and loadable as `models:/<name>@champion` in a fresh process."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from components.registry import open_registry
from components.registry.content import tree_sha256
from components.registry.mlflow_model import LOADER
from components.registry.mlflow_runs import PIPELINE_RUN_TAG, experiment_id
from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, RegistryError, baseline_uri, registry_target
from release.model_tests.smoke import shipped_records
from tests.mlflow_helpers import predict_through_models_uri
from tests.tiny_model import save_tiny_model

pytestmark = pytest.mark.slow  # seconds: TensorFlow and MLflow, and a child process

LINEAGE = Lineage(pipeline_run_id="run-1", commit="c" * 40, dirty=False, modules="m" * 12, source="e2e")


@pytest.fixture
def registry(tmp_path):
    return open_registry(registry_target(load_environment("local", "penguins"), tmp_path / "root"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two small SavedModels with different bytes (and rules)."""
    root = tmp_path_factory.mktemp("models")
    return save_tiny_model(root / "a" / "Format-Serving"), save_tiny_model(root / "b" / "Format-Serving", 230)


def test_a_version_is_an_mlflow_model_folder_around_its_savedmodel(registry, tiny):
    version, created = registry.register(str(tiny[0]), LINEAGE, blessed=True)
    folder = registry.artifacts / version.content_sha256
    assert created and version.uri == f"{folder}/Format-Serving" and baseline_uri(version) == str(folder)
    # The registry's copy is what was hashed, byte for byte; nothing half-built is left beside it.
    assert tree_sha256(version.uri) == version.content_sha256 == tree_sha256(str(tiny[0]))
    assert sorted(p.name for p in registry.artifacts.iterdir()) == [version.content_sha256]
    assert sorted(p.name for p in folder.iterdir()) == [
        "Format-Serving",
        "MLmodel",
        "code",
        "python_env.yaml",
        "requirements.txt",
    ]
    assert (folder / "code" / LOADER.name).read_bytes() == LOADER.read_bytes()
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert (pyfunc["loader_module"], pyfunc["data"], pyfunc["code"]) == ("savedmodel_pyfunc", "Format-Serving", "code")
    assert mlmodel["metadata"] == {"content_sha256": version.content_sha256}
    inputs = {column["name"]: column["type"] for column in json.loads(mlmodel["signature"]["inputs"])}
    assert inputs == {
        "island": "string",
        "sex": "string",
        "bill_length_mm": "double",
        "bill_depth_mm": "double",
        "flipper_length_mm": "long",
        "body_mass_g": "long",
    }
    assert any(line.startswith("tensorflow==") for line in (folder / "requirements.txt").read_text().splitlines())
    # Identical files from elsewhere: the same version, stored once.
    copy = tiny[0].parent.parent / "copy" / "Format-Serving"
    copy.parent.mkdir()
    os.symlink(tiny[0], copy)
    again, created = registry.register(str(copy), LINEAGE.model_copy(update={"pipeline_run_id": "run-2"}), blessed=True)
    assert not created and again == version and len(list(registry.artifacts.iterdir())) == 1


def test_a_version_links_to_the_mlflow_run_of_its_pipeline_run(registry, tiny):
    client = registry.client()
    experiment = experiment_id(client, registry.name, registry.root / "mlruns")
    # A model-training experiment to MLflow's UI (runs and metric charts), under the registry's folder.
    created = client.get_experiment(experiment)
    assert created.tags["mlflow.experimentKind"] == "custom_model_development"
    assert created.artifact_location == (registry.root / "mlruns").as_uri()
    assert experiment_id(client, registry.name, registry.root / "elsewhere") == experiment  # Found, not made again.
    run = client.create_run(experiment, run_name="run-1", tags={PIPELINE_RUN_TAG: "run-1"})
    client.create_run(experiment, run_name="run-0", tags={PIPELINE_RUN_TAG: "run-0"})
    version, _ = registry.register(str(tiny[0]), LINEAGE, blessed=True)
    assert version.lineage.mlflow_run_id == run.info.run_id
    stored = client.get_model_version(registry.name, version.version)
    assert stored.run_id == run.info.run_id
    assert yaml.safe_load((registry.artifacts / version.content_sha256 / "MLmodel").read_text())["run_id"] == (
        run.info.run_id
    )
    assert stored.tags["dirty"] == "false" and stored.tags["commit"] == "c" * 40
    # A pipeline run with no MLflow run (e.g. started before tracking existed): registered, linked to none.
    other, _ = registry.register(str(tiny[1]), LINEAGE.model_copy(update={"pipeline_run_id": "run-9"}), blessed=True)
    assert other.lineage.mlflow_run_id is None and client.get_model_version(registry.name, "2").run_id is None


def test_a_folder_of_an_earlier_layout_is_refused_naming_it(registry, tiny):
    stale = registry.artifacts / tree_sha256(str(tiny[0]))
    stale.mkdir(parents=True)
    (stale / "saved_model.pb").write_bytes(b"from before Format-Serving")
    with pytest.raises(RegistryError, match="earlier layout"):
        registry.register(str(tiny[0]), LINEAGE, blessed=True)
    assert registry.versions() == []


def test_the_champion_loads_through_models_uri_in_a_fresh_process(registry, tiny, tmp_path):
    registry.register(str(tiny[0]), LINEAGE, blessed=True)
    version, _ = registry.register(str(tiny[1]), LINEAGE, blessed=True)
    registry.client().set_registered_model_alias(registry.name, CHAMPION, version.version)
    records, _ = shipped_records("penguins")
    predictions = predict_through_models_uri(registry, records, tmp_path)
    # Version 2's rule (a Gentoo from flipper 230): none of the shipped Gentoos reach it.
    expected = ["Gentoo" if r["flipper_length_mm"] >= 230 else "Chinstrap" if r["bill_length_mm"] >= 44 else "Adelie"
                for r in records]  # fmt: skip
    assert [p["species"] for p in predictions] == expected
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 for p in predictions)
