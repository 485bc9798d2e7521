"""`models` commands on a local registry of stand-in folders: output shapes, bad input, a failing smoke test."""

import json

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, Span, registry_target
from release import models_cli

pytestmark = pytest.mark.slow  # seconds: `nox -s tests` runs it, the push workflows' unit step does not

LINEAGE = Lineage(
    pipeline_run_id="run-1",
    commit="abc123def456",
    modules="8502dcf44e3d",
    spans=(Span(number=1, sha256="a" * 64),),
    parameters={"num_epochs": 20, "learning_rate": 0.01},
    metrics={"sparse_categorical_accuracy": 0.97},
)


@pytest.fixture
def root(tmp_path):
    registry = open_registry(registry_target(load_environment("local"), tmp_path))
    for name in ("one", "two"):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text(name)  # Not a SavedModel: its smoke test must fail.
        registry.register(str(folder), LINEAGE, blessed=True)
    registry.register(str(tmp_path / "models" / "one"), LINEAGE, blessed=True)  # Identical: no third version.
    return tmp_path


def models(root, *args):
    return models_cli.main([*args, "--local-root", str(root)])


def test_list_json_has_versions_aliases_and_lineage(root, capsys):
    assert models(root, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == ["1", "2"]
    first = listed[0]
    assert first["aliases"] == []
    assert {k: first["lineage"][k] for k in ("commit", "modules")} == {
        "commit": "abc123def456",
        "modules": "8502dcf44e3d",
    }
    assert first["lineage"]["spans"] == [{"number": 1, "sha256": "a" * 64}]
    assert first["lineage"]["parameters"] == {"num_epochs": 20, "learning_rate": 0.01}
    assert first["lineage"]["metrics"] == {"sparse_categorical_accuracy": 0.97}


def test_show_and_text_list(root, capsys):
    assert models(root, "show", "2") == 0
    assert json.loads(capsys.readouterr().out)["version"] == "2"
    assert models(root, "list") == 0
    assert "commit abc123def456" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "9"], "version 9"),
        (["promote", "nine"], "numbers"),
        (["promote", "9"], "version 9"),
        (["rollback"], "no champion"),
        (["list", "--env", "nowhere"], "environment file not found"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(root, capsys, args, message):
    assert models(root, *args) == 2
    assert message in capsys.readouterr().err
    assert open_registry(registry_target(load_environment("local"), root)).history() == []


def test_failed_smoke_test_moves_nothing(root, capsys):
    assert models(root, "promote", "1") == 1
    err = capsys.readouterr().err
    assert "smoke test failed" in err and "did not move" in err
    registry = open_registry(registry_target(load_environment("local"), root))
    assert registry.alias_version(CHAMPION) is None and registry.history() == []


def test_prod_style_environment_needs_approve(root, tmp_path, capsys):
    env = tmp_path / "strict.yaml"
    env.write_text(load_environment("local").model_dump_json().replace('"auto_promote":true', '"auto_promote":false'))
    assert models(root, "promote", "1", "--env", str(env)) == 2
    assert "--approve" in capsys.readouterr().err
