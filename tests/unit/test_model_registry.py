"""The local registry backend (MLflow on SQLite), on folders of files standing in for models. Moves are
tests/unit/test_promotion_local.py's."""

import pytest

from components.registry import open_registry
from components.registry.content import tree_sha256
from contracts.config import load_environment
from contracts.registry import Lineage, Span, registry_target

pytestmark = pytest.mark.slow  # seconds: `nox -s tests` runs it, the push workflows' unit step does not

LINEAGE = Lineage(
    pipeline_run_id="run-1",
    commit="abc123def456",
    modules="8502dcf44e3d",
    source="ci",
    spans=(Span(number=1, sha256="a" * 64),),
    parameters={"num_epochs": 20, "learning_rate": 0.01},
    metrics={"sparse_categorical_accuracy": 0.97},
    baseline_metrics={"sparse_categorical_accuracy": 0.95},
)


@pytest.fixture
def registry(tmp_path):
    return open_registry(registry_target(load_environment("local", "penguins"), tmp_path / "root"))


def model(tmp_path, name, content):
    folder = tmp_path / name
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text(content)
    (folder / "variables" / "variables.index").write_text("index")
    return str(folder)


def test_content_hash_follows_names_and_bytes(tmp_path):
    a, b = model(tmp_path, "a", "x"), model(tmp_path, "b", "x")
    assert tree_sha256(a) == tree_sha256(b)
    (tmp_path / "b" / "saved_model.pb").write_text("y")
    assert tree_sha256(a) != tree_sha256(b)
    with pytest.raises(FileNotFoundError):
        tree_sha256(str(tmp_path / "empty"))


def test_register_records_lineage_and_is_content_idempotent(registry, tmp_path):
    first, created = registry.register(model(tmp_path, "m1", "one"), LINEAGE, blessed=True)
    assert created and first.version == "1" and first.blessed
    assert first.lineage == LINEAGE
    again, created = registry.register(
        model(tmp_path, "copy", "one"), LINEAGE.model_copy(update={"pipeline_run_id": "run-2"}), blessed=True
    )
    assert not created and again.version == "1"
    assert again.lineage.pipeline_run_id == "run-1"  # Nothing was added or overwritten.
    second, created = registry.register(model(tmp_path, "m2", "two"), LINEAGE, blessed=True)
    assert created and second.version == "2"
    assert [v.version for v in registry.versions()] == ["1", "2"]
    # The artifacts are a content-addressed copy beside the database: the pipeline's folder may go away.
    assert second.uri == f"{registry.artifacts}/{second.content_sha256}/Format-Serving"
    tags = registry.client().get_model_version(registry.name, "2").tags
    assert tags["commit"] == "abc123def456" and tags["spans"] == "1:" + "a" * 12 and tags["param.num_epochs"] == "20"
