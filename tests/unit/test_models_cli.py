"""`models` commands on a local registry of stand-in folders: output shapes, bad input, a failing model test,
approval by target, auto-promote and repair."""

import json

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, registry_target
from release import models_cli
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from tests.promotion_helpers import LINEAGE, outcomes_file

pytestmark = pytest.mark.slow  # seconds: `nox -s tests` runs it, the push workflows' unit step does not


@pytest.fixture
def root(tmp_path):
    registry = open_registry(registry_target(load_environment("local", "penguins"), tmp_path))
    for name in ("one", "two"):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text(name)  # Not a SavedModel: its model tests must fail.
        registry.register(str(folder), LINEAGE, blessed=True)
    registry.register(str(tmp_path / "models" / "one"), LINEAGE, blessed=True)  # Identical: no third version.
    return tmp_path


def models(root, *args):
    """`models ...` on the penguins pipeline (the local environment has two)."""
    pipeline = [] if "--pipeline" in args or args[:1] == ("approve",) else ["--pipeline", "penguins"]
    return models_cli.main([*args, *pipeline, "--local-root", str(root)])


def history(root):
    return committed(LocalMover(open_registry(registry_target(load_environment("local", "penguins"), root))).entries())


@pytest.fixture
def passing(monkeypatch):
    """Model tests that pass, in place of the child process that loads the model with TensorFlow."""

    class Passing:
        def __init__(self, pipeline, project=None):
            self.tested = []

        def __call__(self, version):
            self.tested.append(version.version)

        def close(self):
            pass

    monkeypatch.setattr("release.model_tests.process.SuiteProcess", Passing)


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
        (["auto-promote", "9"], "version 9"),
        (["list", "--env", "nowhere"], "environment file not found"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(root, capsys, args, message, passing):
    assert models(root, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert history(root) == []


def test_failing_model_tests_move_nothing_and_are_recorded(root, capsys):
    """The real child process: a folder that is no SavedModel does not load, so its smoke test fails."""
    assert models(root, "promote", "1") == 1
    err = capsys.readouterr().err
    assert "smoke test failed" in err and "did not move" in err
    registry = open_registry(registry_target(load_environment("local", "penguins"), root))
    assert registry.alias_version(CHAMPION) is None and history(root) == []
    outcomes = outcomes_file(registry).read_text().splitlines()
    (outcome,) = [json.loads(line) for line in outcomes]
    assert (outcome["version"], outcome["passed"]) == ("1", False) and "smoke test failed" in outcome["detail"]
    assert models(root, "promote", "1") == 1  # The recorded verdict stands without a second run.
    assert "(recorded " in capsys.readouterr().err


def test_promote_auto_promote_rollback_history_and_repair(root, capsys, passing):
    assert models(root, "auto-promote", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["to_version"] == "1"
    assert models(root, "auto-promote", "1") == 0
    assert "already champion: nothing changed" in capsys.readouterr().out
    assert models(root, "promote", "2", "--reason", "better") == 0
    assert models(root, "rollback", "--reason", "regression") == 0
    assert models(root, "auto-promote", "2") == 2  # Rolled away from: refused, saying why.
    assert "was rolled away from" in capsys.readouterr().err
    assert models(root, "history") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1:5] for line in out] == [
        ["promote", "champion:", "-", "->"],
        ["promote", "champion:", "1", "->"],
        ["rollback", "champion:", "2", "->"],
    ]
    assert models(root, "repair") == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_an_environment_needing_approval_needs_approve(root, tmp_path, capsys, passing):
    env = tmp_path / "strict.yaml"
    env.write_text(
        load_environment("local", "penguins").model_dump_json().replace('"auto_promote":true', '"auto_promote":false')
    )
    assert models(root, "promote", "1", "--env", str(env)) == 2
    assert "--approve" in capsys.readouterr().err
    assert models(root, "auto-promote", "1", "--env", str(env)) == 2
    assert "auto-promotion is off here" in capsys.readouterr().err
    assert models(root, "promote", "1", "--env", str(env), "--approve", "carol") == 0


def _copy_of(name, tmp_path, require_approval=None, **release):
    config = load_environment(name)
    config = config.model_copy(update={"release": config.release.model_copy(update=release)})
    if require_approval is not None:
        ci = config.gcp.ci.model_copy(update={"require_approval": require_approval})
        config = config.model_copy(update={"gcp": config.gcp.model_copy(update={"ci": ci})})
    path = tmp_path / f"copy-of-{name}.yaml"
    path.write_text(config.model_dump_json())
    return path


def test_a_copied_environment_file_cannot_skip_the_approval_of_its_target(root, tmp_path, capsys):
    """Approval belongs to the target: a copy of prod.yaml that says auto_promote: true is refused for what it
    names (prod's project and location), before anything is read or moved. (With prod's own
    gcp.ci.require_approval kept, the schema already refuses auto_promote; the copy drops that too.)"""
    copy = _copy_of("prod", tmp_path, require_approval=False, auto_promote=True)
    for command in (["promote", "1"], ["auto-promote", "1"], ["rollback"], ["list"]):
        assert models(root, *command, "--env", str(copy)) == 2
        err = capsys.readouterr().err
        assert "the target of environment 'prod', whose promotions need an approval; use --env prod" in err


def test_the_approval_gate_is_by_project_and_location(tmp_path):
    from contracts.config import ConfigError
    from release.promotion.targets import load_target

    assert load_target("prod").name == "prod" and load_target("dev").release.auto_promote
    assert load_target(_copy_of("dev", tmp_path, auto_promote=False)).name == "dev"  # dev gates nothing
    assert load_target(_copy_of("local", tmp_path, auto_promote=True)).gcp is None  # this machine's registry
    elsewhere = load_environment("prod", "penguins")
    elsewhere = elsewhere.model_copy(update={"gcp": elsewhere.gcp.model_copy(update={"project": "my-own-project"})})
    (tmp_path / "other-project.yaml").write_text(elsewhere.model_dump_json())
    assert load_target(tmp_path / "other-project.yaml").gcp.project == "my-own-project"
    with pytest.raises(ConfigError, match=r"copy-of-prod\.yaml: names project my-prod-project in europe-west4"):
        load_target(_copy_of("prod", tmp_path, auto_promote=False))


def test_an_environment_of_several_pipelines_needs_the_pipeline_named(root, tmp_path, capsys):
    from tests.promotion_helpers import two_pipelines

    env = str(two_pipelines(tmp_path))
    for command in (["list"], ["promote", "1"], ["rollback"], ["history"]):
        assert models_cli.main([*command, "--env", env, "--local-root", str(root)]) == 2
        err = capsys.readouterr().err
        assert "2 pipelines (diabetes, penguins): name one (--pipeline NAME)" in err, err
    assert models(root, "list", "--env", env, "--pipeline", "nowhere") == 2
    assert "its pipelines: diabetes, penguins" in capsys.readouterr().err
    # Each pipeline has its own registered model: the versions registered above are penguins'.
    assert models(root, "list", "--env", env, "--pipeline", "diabetes", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert models(root, "list", "--env", env, "--pipeline", "penguins", "--json") == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["1", "2"]


def test_the_model_tests_command_needs_the_pipeline_too_or_takes_them_all(tmp_path, capsys):
    from release.model_tests import run as route
    from tests.promotion_helpers import two_pipelines

    env = str(two_pipelines(tmp_path))
    assert route.main(["--env", env, "--local-root", str(tmp_path)]) == 2
    assert "name one (--pipeline NAME)" in capsys.readouterr().err
    assert route.main(["--env", env, "--local-root", str(tmp_path), "--pipeline", "diabetes"]) == 0
    assert capsys.readouterr().out == "diabetes-local: no champion to test\n"
    assert route.main(["--env", env, "--local-root", str(tmp_path), "--all-pipelines"]) == 0
    out = capsys.readouterr().out
    assert out == "diabetes-local: no champion to test\npenguins-local: no champion to test\n"


def test_promote_with_a_canary_serves_it_beside_the_champion_until_it_is_ended_by_hand(root, capsys, passing):
    assert models(root, "promote", "1") == 0
    assert models(root, "promote", "2", "--canary", "20") == 0
    assert "canary   candidate: - -> 2 at 20%" in capsys.readouterr().out
    assert models(root, "canary", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["candidate"], status["champion"], status["percent"]) == ("2", "1", 20)
    assert models(root, "canary", "rollback", "--reason", "p99 too high") == 0
    assert "rollback candidate: 2 -> 1" in capsys.readouterr().out
    assert models(root, "canary") == 0
    assert capsys.readouterr().out.strip() == "no canary is running"
    assert models(root, "canary", "promote") == 2
    assert "no canary is running" in capsys.readouterr().err
    assert [(m.alias, m.kind, m.to_version, m.percent) for m in history(root)] == [
        (CHAMPION, "promote", "1", None), ("candidate", "canary", "2", 20), ("candidate", "rollback", "1", None),
    ]  # fmt: skip


def test_a_canary_share_out_of_range_is_refused_and_zero_promotes_at_once(root, capsys, passing):
    assert models(root, "promote", "1") == 0
    assert models(root, "promote", "2", "--canary", "100") == 2
    assert "--canary 100: a share of 1 to 99 percent" in capsys.readouterr().err
    assert models(root, "promote", "2", "--canary", "0") == 0
    assert [m.to_version for m in history(root) if m.alias == CHAMPION] == ["1", "2"]
