"""The local registry backend (MLflow on SQLite) and promotion, on folders of files standing in for models."""

import json
import threading

import pytest

from components.registry import open_registry
from components.registry.content import tree_sha256
from components.registry.promotion import move_champion, previous_champion, rollback
from contracts.config import load_environment
from contracts.registry import (
    CHAMPION,
    Lineage,
    NoEarlierChampionError,
    NotPromotableError,
    RegistryError,
    Span,
    UnknownVersionError,
    registry_target,
)

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


def passes(version):
    return None


@pytest.fixture
def registry(tmp_path):
    return open_registry(registry_target(load_environment("local"), tmp_path / "root"))


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


def test_promote_rollback_and_history(registry, tmp_path):
    for n in (1, 2, 3):
        registry.register(model(tmp_path, f"m{n}", str(n)), LINEAGE, blessed=True)
    with pytest.raises(NoEarlierChampionError):
        previous_champion(registry)
    move_champion(registry, "1", by="ci", reason="first", smoke=passes)
    move_champion(registry, "2", by="alice", reason="better", smoke=passes)
    assert move_champion(registry, "2", by="alice", reason="again", smoke=passes) is None  # Already: no entry.

    def never(version):
        raise AssertionError(f"version {version.version} was champion before: no second smoke test")

    back = rollback(registry, to=None, by="bob", reason="regression", smoke=never)
    assert (back.from_version, back.to_version, back.kind) == ("2", "1", "rollback")
    tested = []
    rollback(registry, to="3", by="bob", reason="pick", smoke=tested.append)  # Never champion: tested.
    assert [v.version for v in tested] == ["3"]
    assert registry.alias_version(CHAMPION) == "3"
    assert [(m.from_version, m.to_version, m.by) for m in registry.history()] == [
        (None, "1", "ci"),
        ("1", "2", "alice"),
        ("2", "1", "bob"),
        ("1", "3", "bob"),
    ]
    assert registry.get("3").aliases == (CHAMPION,)
    # The pointer the local server watches follows each move (replaced whole, never left as a temporary file).
    pointer = registry.alias_pointer(CHAMPION)
    assert json.loads(pointer.read_text())["version"] == "3"
    assert [p.name for p in pointer.parent.iterdir()] == ["champion.json"]
    # The listing shows the champion too (MLflow's version search leaves aliases empty).
    assert {v.version: v.aliases for v in registry.versions()} == {"1": (), "2": (), "3": (CHAMPION,)}


def test_bad_moves_change_nothing(registry, tmp_path):
    registry.register(model(tmp_path, "m1", "1"), LINEAGE, blessed=True)
    registry.register(model(tmp_path, "m2", "2"), LINEAGE, blessed=False)
    move_champion(registry, "1", by="ci", reason="first", smoke=passes)
    with pytest.raises(UnknownVersionError, match="version 9"):
        move_champion(registry, "9", by="x", reason="x", smoke=passes)
    with pytest.raises(UnknownVersionError, match="numbers"):
        move_champion(registry, "latest", by="x", reason="x", smoke=passes)
    with pytest.raises(NotPromotableError, match="not blessed"):
        move_champion(registry, "2", by="x", reason="x", smoke=passes)
    with pytest.raises(NoEarlierChampionError, match="first champion"):
        rollback(registry, to=None, by="x", reason="x", smoke=passes)

    def fails(version):
        raise NotPromotableError(f"version {version.version}: smoke test failed: boom")

    registry.register(model(tmp_path, "m3", "3"), LINEAGE, blessed=True)
    with pytest.raises(NotPromotableError, match="smoke test failed"):
        move_champion(registry, "3", by="x", reason="x", smoke=fails)
    registry.client().delete_model_version(registry.name, "3")
    with pytest.raises(UnknownVersionError, match="deleted"):
        move_champion(registry, "3", by="x", reason="x", smoke=passes)
    assert registry.alias_version(CHAMPION) == "1" and len(registry.history()) == 1


def test_approval_is_required_where_auto_promote_is_off(tmp_path):
    config = load_environment("local").model_copy(update={"release": load_environment("prod").release})
    registry = open_registry(registry_target(config, tmp_path))
    registry.register(model(tmp_path, "m1", "1"), LINEAGE, blessed=True)
    with pytest.raises(NotPromotableError, match="--approve"):
        move_champion(registry, "1", by="ci", reason="x", smoke=passes)
    assert registry.alias_version(CHAMPION) is None
    move = move_champion(registry, "1", by="ci", reason="x", approved_by="carol", smoke=passes)
    assert move.approved_by == "carol" and registry.history()[0].approved_by == "carol"


def test_concurrent_promotions_agree_with_the_history(registry, tmp_path):
    for n in range(1, 5):
        registry.register(model(tmp_path, f"m{n}", str(n)), LINEAGE, blessed=True)
    errors = []

    def promote(version):
        try:
            # Each opens its own registry, as two processes would; the file lock serialises them.
            other = open_registry(registry.target)
            move_champion(other, version, by=f"user{version}", reason="race", smoke=passes)
        except RegistryError as err:
            errors.append(err)

    threads = [threading.Thread(target=promote, args=(str(n),)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = registry.history()
    assert not errors
    assert [m.from_version for m in history] == [None, *[m.to_version for m in history[:-1]]]
    assert registry.alias_version(CHAMPION) == history[-1].to_version


def test_stale_from_version_is_refused(registry, tmp_path):
    from contracts.registry import AliasMove

    registry.register(model(tmp_path, "m1", "1"), LINEAGE, blessed=True)
    stale = AliasMove(alias=CHAMPION, from_version="7", to_version="1", at="t", by="x", reason="x", kind="promote")
    with registry.locked(), pytest.raises(RegistryError, match="meanwhile"):
        registry.move_alias(stale)
    assert registry.history() == []
