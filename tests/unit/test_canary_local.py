"""Canary moves on the local registry: start, promote, roll back, each one recorded move, settled after a SIGKILL
at any step by the next command; the pointers the local server follows agree with the aliases afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contracts.config import REPO_ROOT
from contracts.registry import CANDIDATE, CHAMPION, NotPromotableError, RegistryError
from release.promotion import canary
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from release.promotion.moves import promote, repair
from tests import promotion_helpers as helpers

pytestmark = pytest.mark.slow  # a real MLflow registry, child processes

STEPS = ("intent", "pointer", "alias", "outcome")


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


@pytest.fixture
def registry(root):
    local = helpers.registry(root)
    helpers.register(local, root, "one", "two", "three")
    promote(LocalMover(local), "1", helpers.gate(local), by="ci", reason="first")
    return local


def _start(registry, version="2", percent=10, **kwargs):
    kwargs.setdefault("by", "ci")
    kwargs.setdefault("reason", "canary")
    return canary.start(LocalMover(registry), version, percent, helpers.gate(registry), **kwargs)


def _pointers(registry):
    journal = helpers.journal(registry)
    return journal.pointer(CHAMPION), journal.pointer_record(CANDIDATE)


def test_a_canary_starts_beside_the_champion_and_is_promoted_with_its_figures(registry):
    move = _start(registry, percent=25)
    assert (move.alias, move.kind, move.to_version, move.percent) == (CANDIDATE, "canary", "2", 25)
    now = canary.running(LocalMover(registry))
    assert (now.candidate, now.champion, now.percent) == ("2", "1", 25)
    champion, candidate = _pointers(registry)
    assert champion == "1" and candidate["version"] == "2" and candidate["percent"] == 25
    assert _start(registry, percent=25) is None  # the same canary again: nothing recorded
    figures = {"candidate": {"requests": 120}, "champion": {"requests": 380}}
    done = canary.finish(LocalMover(registry), "promote", by="monitor", reason="canary passed", figures=figures)
    assert (done.alias, done.kind, done.from_version, done.to_version, done.figures) == (
        CHAMPION, "promote", "1", "2", figures,
    )  # fmt: skip
    assert canary.running(LocalMover(registry)) is None
    assert registry.alias_version(CHAMPION) == "2" and _pointers(registry)[0] == "2"


def test_a_rolled_back_canary_leaves_the_champion_and_ends_the_split(registry):
    _start(registry)
    done = canary.finish(LocalMover(registry), "rollback", by="monitor", reason="worse", figures={"p99": 1})
    assert (done.alias, done.kind, done.from_version, done.to_version) == (CANDIDATE, "rollback", "2", "1")
    assert canary.running(LocalMover(registry)) is None
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CANDIDATE) == "1"
    history = committed(LocalMover(registry).entries())
    assert [(m.alias, m.kind, m.to_version) for m in history] == [
        (CHAMPION, "promote", "1"), (CANDIDATE, "canary", "2"), (CANDIDATE, "rollback", "1"),
    ]  # fmt: skip
    # A rollback of the champion is unaffected by the canary's moves: there is no champion before 1.
    with pytest.raises(RegistryError, match="no earlier champion"):
        from release.promotion.moves import rollback

        rollback(LocalMover(registry), helpers.gate(registry), to=None, by="bob", reason="r")


def test_a_canary_needs_a_champion_an_approval_where_required_and_a_judge_of_the_right_version(root):
    local = helpers.registry(root)
    helpers.register(local, root, "one", "two")
    with pytest.raises(NotPromotableError, match="no champion yet"):
        _start(local, "1")
    promote(LocalMover(local), "1", helpers.gate(local), by="ci", reason="first")
    with pytest.raises(RegistryError, match="is the champion already"):
        _start(local, "1")
    with pytest.raises(RegistryError, match="1 to 99 percent"):
        _start(local, "2", percent=100)
    gated = helpers.registry(root, auto_promote=False)
    with pytest.raises(NotPromotableError, match="--approve"):
        canary.start(LocalMover(gated), "2", 10, helpers.gate(gated), by="ci", reason="r")
    assert canary.start(LocalMover(gated), "2", 10, helpers.gate(gated), by="ci", reason="r", approved_by="ann")
    with pytest.raises(RegistryError, match="of version 2, not 3"):
        canary.finish(LocalMover(local), "promote", by="m", reason="r", candidate="3")
    canary.finish(LocalMover(local), "rollback", by="m", reason="r")
    with pytest.raises(RegistryError, match="no canary is running"):
        canary.finish(LocalMover(local), "promote", by="m", reason="r")


def _killed(root, action, version, step):
    child = subprocess.run(
        [sys.executable, "-m", "tests.promotion_helpers", "canary", str(root), action, version, step],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert child.returncode == -9, child.stderr[-2000:]


@pytest.mark.parametrize("step", STEPS)
def test_a_canary_start_killed_at_any_step_is_finished_or_undone_by_the_next_command(registry, root, step):
    _killed(root, "start", "2", step)
    mover = LocalMover(registry)
    with mover.locked():
        mover.settle()
        now = canary.running(mover)
    started = step in ("alias", "outcome")
    assert (now is not None) is started
    assert registry.alias_version(CANDIDATE) == ("2" if started else None)
    _, candidate = _pointers(registry)
    assert (candidate or {}).get("version") == ("2" if started else None)
    if started:
        assert candidate["percent"] == 10
    assert repair(LocalMover(registry)) == ([], [])


@pytest.mark.parametrize("action", ["promote", "rollback"])
@pytest.mark.parametrize("step", STEPS)
def test_a_canary_end_killed_at_any_step_is_finished_or_undone_by_the_next_command(registry, root, action, step):
    _start(registry)
    _killed(root, action, "2", step)
    mover = LocalMover(registry)
    with mover.locked():
        mover.settle()
        now = canary.running(mover)
    ended = step in ("alias", "outcome")
    assert (now is None) is ended
    champion, candidate = _pointers(registry)
    expected_champion = "2" if (ended and action == "promote") else "1"
    expected_candidate = "1" if (ended and action == "rollback") else "2"
    assert (registry.alias_version(CHAMPION), champion) == (expected_champion, expected_champion)
    assert (registry.alias_version(CANDIDATE), candidate["version"]) == (expected_candidate, expected_candidate)
    if not ended:  # Still running: at its share, and the next command can end it.
        assert candidate["percent"] == 10
        canary.finish(LocalMover(registry), action, by="next", reason="after the kill")
    assert repair(LocalMover(registry)) == ([], [])


def test_with_a_canary_rollout_a_registered_version_starts_as_a_canary_beside_the_champion(registry, root, monkeypatch):
    from contracts.config import load_environment
    from release.promotion.announced import after_registration

    monkeypatch.setattr("release.model_tests.suite.run_suite", lambda candidate, pipeline: None)
    config = load_environment("local", "penguins")
    rollout = config.release.model_copy(update={"canary": config.release.canary.model_copy(update={"percent": 15})})
    config = config.model_copy(update={"release": rollout})
    assert after_registration(config, root, "2", by="run") == "canary at 15%"
    now = canary.running(LocalMover(registry))
    assert (now.candidate, now.champion, now.percent) == ("2", "1", 15)
    assert after_registration(config, root, "2", by="rerun") == "already champion or canary"
