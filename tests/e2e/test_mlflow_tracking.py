"""A local pipeline run as MLflow users expect it: an MLflow run in the pipeline's experiment with the
hyperparameters and spans, the Evaluator's metrics overall and per class, and the lineage as tags; the version
it registers is an MLflow model linked to that run, loaded as `models:/<name>@champion` in a fresh process.

The run starts as `nox -s pipeline` does (no labels): its commit, dirty flag and modules hash come from the
working tree.
"""

from __future__ import annotations

import io
import re

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, registry_target
from pipelines.local import LocalRun, execute
from pipelines.worktree import git_commit, is_dirty
from release.model_tests.smoke import shipped_records
from tests.mlflow_helpers import predict_through_models_uri

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    config = load_environment("local", "penguins")
    run = LocalRun(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01)
    summary = execute(run, out=io.StringIO())
    assert summary.succeeded and summary.pushed_by_this_run, summary.error
    registry = open_registry(registry_target(config, root))
    return root, config, registry, summary


def mlflow_run(registry, pipeline_run_id):
    client = registry.client()
    experiment = client.get_experiment_by_name(registry.name)
    (found,) = client.search_runs([experiment.experiment_id], f"tags.pipeline_run_id = '{pipeline_run_id}'")
    return found


def test_the_run_records_parameters_metrics_and_lineage(trained):
    _, config, registry, summary = trained
    run = mlflow_run(registry, summary.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == summary.run_id
    assert registry.name == config.pipeline_name  # The experiment is named for the pipeline.
    params = run.data.params
    assert (params["num_epochs"], params["learning_rate"], params["spans"]) == ("20", "0.01", "1")
    metrics = run.data.metrics
    assert metrics["sparse_categorical_accuracy"] == pytest.approx(summary.metrics["sparse_categorical_accuracy"])
    assert metrics["example_count"] == summary.metrics["example_count"]
    per_class = {name for name in metrics if "." in name}
    assert per_class == {f"{m}.{c}" for m in ("precision", "recall") for c in ("Adelie", "Chinstrap", "Gentoo")}
    assert all(0.0 <= metrics[name] <= 1.0 for name in per_class)
    tags = run.data.tags
    assert tags["commit"] == git_commit() and re.fullmatch(r"[0-9a-f]{40}", tags["commit"])
    assert tags["dirty"] == str(is_dirty()).lower()
    assert re.fullmatch(r"[0-9a-f]{64}", tags["modules"]) and tags["mlflow.source.git.commit"] == tags["commit"]
    assert tags["blessed"] == "true" and tags["registered_version"] == summary.pushed_version
    assert "mlflow.note.content" in tags


def test_the_version_is_linked_to_the_run_and_carries_the_same_lineage(trained):
    _, _, registry, summary = trained
    run = mlflow_run(registry, summary.run_id)
    version = registry.get(summary.pushed_version)
    assert registry.client().get_model_version(registry.name, version.version).run_id == run.info.run_id
    lineage = version.lineage
    assert lineage.mlflow_run_id == run.info.run_id
    assert (lineage.commit, lineage.modules, lineage.dirty) == (
        run.data.tags["commit"],
        run.data.tags["modules"],
        run.data.tags["dirty"] == "true",
    )


def test_the_champion_loads_through_models_uri_and_predicts_raw_features(trained, tmp_path):
    _, _, registry, summary = trained
    registry.client().set_registered_model_alias(registry.name, CHAMPION, summary.pushed_version)
    records, labels = shipped_records("penguins")
    predictions = predict_through_models_uri(registry, records, tmp_path)
    assert sum(p["species"] == label for p, label in zip(predictions, labels, strict=True)) >= 5
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-4 for p in predictions)


def test_an_identical_rerun_is_its_own_mlflow_run_and_stays_fully_cached(trained):
    root, config, registry, first = trained
    rerun = LocalRun(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01)
    # The gate's baseline is the champion when a run starts: if another test made the first run's model the
    # champion, the next run is judged against it once (Evaluator and push again); the one after is cached.
    execute(rerun, out=io.StringIO())
    rerun = LocalRun(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01)
    summary = execute(rerun, out=io.StringIO())
    assert summary.all_cached, [(c.node_id, c.status) for c in summary.components]
    run = mlflow_run(registry, summary.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["sparse_categorical_accuracy"] == pytest.approx(
        first.metrics["sparse_categorical_accuracy"]
    )
    # The version stays linked to the run that registered it.
    assert registry.get(first.pushed_version).lineage.mlflow_run_id == mlflow_run(registry, first.run_id).info.run_id
