"""End to end on a temporary local environment: the real TFX pipeline, LocalDagRunner, ML Metadata.

One environment is shared by the tests that follow each other (first run, cached rerun, regressing
model); broken-data runs get their own.
"""

import csv
import io
from pathlib import Path

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.data_layout import span_folder
from contracts.registry import CHAMPION, registry_target
from pipelines import local_runner
from pipelines.local import LocalRun, execute
from pipelines.sources import pipeline_sources
from release.promotion.announced import after_registration

pytestmark = pytest.mark.e2e


def run(root, *, env="local", num_epochs=20, learning_rate=0.01, config=None):
    config = config or load_environment(env, "penguins")
    out = io.StringIO()
    summary = execute(
        LocalRun(config=config, paths=config.local_paths(root), num_epochs=num_epochs, learning_rate=learning_rate),
        out=out,
    )
    return summary, out.getvalue()


def versions(root, config):
    return [v.version for v in open_registry(registry_target(config, root)).versions()]


@pytest.fixture(scope="module")
def env_root(tmp_path_factory):
    return tmp_path_factory.mktemp("local-env")


@pytest.fixture(scope="module")
def first_run(env_root):
    return run(env_root)


def test_first_run_trains_blesses_and_pushes(first_run, env_root):
    summary, progress = first_run
    assert summary.succeeded, summary.error
    statuses = {c.node_id: c.status for c in summary.components}
    assert set(statuses.values()) == {"complete"}
    assert summary.metrics["sparse_categorical_accuracy"] >= 0.9
    assert summary.metrics["example_count"] > 50
    assert summary.baseline_metrics == {}  # Nothing to compare with yet.
    assert summary.blessed is True
    assert summary.pushed_by_this_run
    config = load_environment("local", "penguins")
    assert versions(env_root, config) == [summary.pushed_version]
    assert (Path(summary.pushed_path) / "saved_model.pb").exists()
    registry = open_registry(registry_target(config, env_root))
    (version,) = registry.versions()
    # The lineage: spans with their content hashes, parameters, metrics, the run. The push registers and never
    # promotes (what runs the pipeline, e.g. the local run worker, auto-promotes after it).
    assert [s.number for s in version.lineage.spans] == [1] and len(version.lineage.spans[0].sha256) == 64
    assert version.lineage.parameters == {"num_epochs": 20, "learning_rate": 0.01}
    assert version.lineage.metrics["sparse_categorical_accuracy"] == summary.metrics["sparse_categorical_accuracy"]
    assert version.lineage.pipeline_run_id == summary.run_id
    assert registry.alias_version(CHAMPION) is None and summary.promotion is None
    # What follows a registered version locally (the run worker and `nox -s pipeline` do it): champion at once.
    assert after_registration(config, env_root, version.version, by="e2e") == "champion"
    assert registry.alias_version(CHAMPION) == version.version
    for component in ("WindowExampleGen", "Transform", "Trainer", "Evaluator", "RegistryPush"):
        assert f"] {component} done in" in progress


def test_identical_rerun_is_served_from_cache_and_pushes_nothing(first_run, env_root):
    """Everything before the gate is cached. The gate's baseline is the champion when a run starts: the first
    run had none, so once its model is the champion the rerun's Evaluator judges the same model against it (a
    new input) and the push finds the version registered. The next identical run is fully cached."""
    config = load_environment("local", "penguins")
    champion_since = open_registry(registry_target(config, env_root)).alias_version(CHAMPION) is not None
    summary, _ = run(env_root)
    assert summary.succeeded, summary.error
    statuses = {c.node_id: c.status for c in summary.components}
    gate = {"Evaluator": statuses.pop("Evaluator"), "RegistryPush": statuses.pop("RegistryPush")}
    assert set(statuses.values()) == {"cached"}
    assert set(gate.values()) == {"complete" if champion_since else "cached"}
    assert summary.blessed is True
    assert not summary.pushed_by_this_run
    assert summary.pushed_version == first_run[0].pushed_version
    assert versions(env_root, config) == [first_run[0].pushed_version]
    again, _ = run(env_root)
    assert again.all_cached, [(c.node_id, c.status) for c in again.components]


def test_regressing_model_is_not_blessed_nor_pushed(first_run, env_root):
    summary, _ = run(env_root, num_epochs=1, learning_rate=1e-4)
    assert summary.succeeded, summary.error
    trainer = next(c for c in summary.components if c.node_id == "Trainer")
    assert trainer.status == "complete"
    assert summary.blessed is False
    assert summary.metrics["sparse_categorical_accuracy"] < 0.9
    # Compared with the champion from the first run.
    assert summary.baseline_metrics["sparse_categorical_accuracy"] >= 0.9
    failures = " | ".join(summary.validation_failures)
    assert "absolute bound: sparse_categorical_accuracy" in failures
    assert "no-regression: sparse_categorical_accuracy" in failures
    assert summary.pushed_version is None
    assert versions(env_root, load_environment("local", "penguins")) == [first_run[0].pushed_version]


def test_no_regression_threshold_alone_blocks_a_worse_model(first_run, env_root, tmp_path):
    """With the absolute bound at 0, only the comparison with the champion can refuse the model."""
    text = (load_environment("local", "penguins").model_dump_json()).replace('"bound":0.9', '"bound":0.0')
    assert '"bound":0.0' in text
    env = tmp_path / "lenient.yaml"
    env.write_text(text)
    summary, _ = run(env_root, config=load_environment(env), num_epochs=1, learning_rate=1e-4)
    assert summary.succeeded, summary.error
    assert summary.blessed is False
    assert len(summary.validation_failures) == 1, summary.validation_failures
    assert summary.validation_failures[0].startswith("no-regression: sparse_categorical_accuracy")
    assert summary.pushed_version is None


def broken_span(root, mutate):
    """Seed the environment's span-1 with a mutated copy of the shipped data (seeding never overwrites)."""
    config = load_environment("local", "penguins")
    with open(pipeline_sources("penguins").data_dir / "span-1" / "penguins.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fields, rows = mutate(list(rows[0]), rows)
    span = config.local_paths(root).data_root(config.dataset) / span_folder(1)
    span.mkdir(parents=True)
    with open(span / "penguins.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def wrong_type(fields, rows):
    for row in rows[::10]:
        row["body_mass_g"] = "heavy"
    return fields, rows


def missing_column(fields, rows):
    return [f for f in fields if f != "island"], rows


@pytest.mark.parametrize(
    ("mutate", "feature", "anomaly"),
    [(wrong_type, "body_mass_g", "type"), (missing_column, "island", "Column dropped")],
)
def test_broken_data_stops_at_validation_naming_the_anomaly(tmp_path, capsys, mutate, feature, anomaly):
    broken_span(tmp_path, mutate)
    assert local_runner.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert f"feature '{feature}'" in printed
    assert anomaly.lower() in printed.lower()
    statuses = {
        line.split()[0]: line.split()[1]
        for line in printed.splitlines()
        if line.startswith("  ") and len(line.split()) >= 2
    }
    assert statuses.get("ValidationGate") == "failed"
    for later in ("Transform", "Trainer", "Evaluator", "RegistryPush"):
        assert statuses.get(later) == "not", (later, printed)
    # Nothing registered; the run is recorded in MLflow as failed (every local run is an MLflow run).
    registry = open_registry(registry_target(load_environment("local", "penguins"), tmp_path))
    assert registry.versions() == [] and not (tmp_path / "registry" / "artifacts").exists()
    client = registry.client()
    (tracked,) = client.search_runs([client.get_experiment_by_name(registry.name).experiment_id])
    assert tracked.info.status == "FAILED" and "blessed" not in tracked.data.tags


def test_model_only_change_retrains_without_rerunning_transform(first_run, env_root, tmp_path, monkeypatch):
    """The pipeline-level half of the fast path: a model.py edit reuses the cached Transform."""
    import shutil

    import pipelines.local
    from pipelines.sources import PipelineSources, pipeline_sources

    folder = tmp_path / "penguins"
    shutil.copytree(pipeline_sources("penguins").folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    model_py = folder / "modules" / "model.py"
    model_py.write_text(model_py.read_text().replace("HIDDEN_UNITS = (16, 8)", "HIDDEN_UNITS = (12, 8)"))
    monkeypatch.setattr(pipelines.local, "pipeline_sources", lambda name: PipelineSources(name, folder))
    summary, _ = run(env_root)
    statuses = {c.node_id: c.status for c in summary.components}
    assert statuses["Transform"] == "cached"
    assert statuses["Trainer"] == "complete"
    assert statuses["Evaluator"] == "complete"
