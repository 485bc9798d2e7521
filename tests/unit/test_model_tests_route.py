"""The model-tests route on a local registry of stand-in versions: the champion held to the tests as they are
now, the verdict recorded with its version, a failing champion reported, and rolled back where the environment
says so (to the one before it, if that passes)."""

from __future__ import annotations

import json

import pytest

from contracts.registry import SmokeTestFailedError
from release.model_tests import run as route
from release.model_tests.suite import suite_sha256
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from release.promotion.moves import promote
from tests import promotion_helpers as helpers

pytestmark = pytest.mark.slow  # seconds: a real MLflow registry


@pytest.fixture
def root(tmp_path):
    """Versions 1, 2, 3 promoted in turn: 3 is the champion, 2 the one before it."""
    registry = helpers.registry(tmp_path)
    helpers.register(registry, tmp_path, "one", "two", "three")
    for version in ("1", "2", "3"):
        promote(LocalMover(registry), version, helpers.gate(registry), by="ci", reason="r")
    return tmp_path


@pytest.fixture
def failing(monkeypatch):
    """The new model tests fail the versions put in the set (and record what they tested)."""
    failing, tested = set(), []

    def run_suite(version, pipeline, project=None, storage_client=None):
        assert pipeline == "penguins"
        tested.append(version.version)
        if version.version in failing:
            raise SmokeTestFailedError(f"version {version.version}: smoke test failed: 3 of 6 shipped records right")

    monkeypatch.setattr("release.model_tests.suite.run_suite", run_suite)
    return failing, tested


def _env(tmp_path, on_failed):
    config = helpers.config()
    release = config.release.model_copy(update={"on_failed_model_tests": on_failed})
    config = config.model_copy(update={"release": release})
    path = tmp_path / f"{on_failed}.yaml"
    path.write_text(config.model_dump_json())
    return str(path)


def _outcomes(root):
    return [json.loads(line) for line in helpers.outcomes_file(helpers.registry(root)).read_text().splitlines()]


def test_a_passing_champion_is_recorded_with_the_tests_it_passed(root, failing, capsys):
    _, tested = failing
    assert route.main(["--pipeline", "penguins", "--local-root", str(root)]) == 0
    assert f"local: champion 3, model tests {suite_sha256('penguins')[:12]}: passed" in capsys.readouterr().out
    recorded = _outcomes(root)[-1]
    assert (recorded["version"], recorded["tests_sha256"], recorded["passed"]) == ("3", suite_sha256("penguins"), True)
    assert (
        route.main(["--pipeline", "penguins", "--local-root", str(root)]) == 0
    )  # The same tests on the same version: the verdict stands.
    assert tested == ["3"]


def test_a_failing_champion_is_rolled_back_where_the_environment_says_so(root, failing, capsys):
    failing[0].add("3")
    assert route.main(["--local-root", str(root), "--env", _env(root, "rollback"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["champion"], report["passed"], report["rolled_back_to"]) == ("3", False, "2")
    assert "3 of 6 shipped records right" in report["detail"]
    last = committed(LocalMover(helpers.registry(root)).entries())[-1]
    assert (last.kind, last.from_version, last.to_version) == ("rollback", "3", "2")
    assert last.reason.startswith(f"champion 3 failed model tests {suite_sha256('penguins')[:12]}")
    assert last.approved_by == "local's policy (release.on_failed_model_tests: rollback)"
    assert helpers.agreement(helpers.registry(root)) == ("2", "2", "2", [])
    assert [(o["version"], o["passed"]) for o in _outcomes(root)[-2:]] == [("3", False), ("2", True)]


def test_where_the_environment_only_reports_the_champion_stays(root, failing, capsys):
    failing[0].add("3")
    assert route.main(["--local-root", str(root), "--env", _env(root, "report")]) == 1
    out = capsys.readouterr().out
    assert "champion 3" in out and "FAILED: version 3: smoke test failed" in out and "rolled back" not in out
    assert helpers.agreement(helpers.registry(root)) == ("3", "3", "3", [])


def test_no_rollback_to_a_champion_that_fails_the_same_tests(root, failing, capsys):
    failing[0].update({"3", "2"})
    assert route.main(["--local-root", str(root), "--env", _env(root, "rollback")]) == 1
    out = capsys.readouterr().out
    assert "not rolled back: version 2: smoke test failed" in out
    assert helpers.agreement(helpers.registry(root)) == ("3", "3", "3", [])


def test_no_champion_is_nothing_to_test(tmp_path, failing, capsys):
    assert route.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    assert "local: no champion to test" in capsys.readouterr().out
