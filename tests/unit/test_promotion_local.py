"""Moves on the local registry (MLflow on SQLite), on folders of files standing in for models: the rules, the
model-test gate, approvals, and the transaction under exceptions, SIGKILLs and concurrent movers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from contracts.config import REPO_ROOT
from contracts.registry import CHAMPION, NoEarlierChampionError, NotPromotableError, RegistryError
from contracts.registry import SmokeTestFailedError as SmokeFailed
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from release.promotion.moves import auto_promote, promote, repair, rollback
from tests import promotion_helpers as helpers

pytestmark = pytest.mark.slow  # seconds: a real MLflow registry, child processes


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


@pytest.fixture
def registry(root):
    return helpers.registry(root)


def _promote(registry, version, **kwargs):
    kwargs.setdefault("by", "ci")
    kwargs.setdefault("reason", "test")
    return promote(LocalMover(registry), version, helpers.gate(registry), **kwargs)


def _rollback(registry, to=None, tester=helpers.passes):
    return rollback(LocalMover(registry), helpers.gate(registry, tester), to=to, by="bob", reason="regression")


def test_rollback_follows_the_history_back_past_every_version_rolled_away_from(registry, root):
    helpers.register(registry, root, "one", "two", "three")
    for version in ("1", "2", "3"):
        _promote(registry, version)

    def never(version):
        raise AssertionError(f"version {version.version} was champion before: no second test")

    assert _rollback(registry, tester=never).to_version == "2"
    assert _rollback(registry, tester=never).to_version == "1"  # Never 3 again: it was rolled away from.
    with pytest.raises(NoEarlierChampionError, match=r"version 1: there is no earlier champion .*: 2, 3"):
        _rollback(registry)
    history = committed(LocalMover(registry).entries())
    assert [(m.from_version, m.to_version, m.kind) for m in history] == [
        (None, "1", "promote"),
        ("1", "2", "promote"),
        ("2", "3", "promote"),
        ("3", "2", "rollback"),
        ("2", "1", "rollback"),
    ]
    assert helpers.agreement(registry) == ("1", "1", "1", [])
    # An explicit promotion of a version rolled away from brings it back into the chain.
    _promote(registry, "3")
    assert _rollback(registry).to_version == "1"
    # `--to` goes anywhere; a version that never served is tested first.
    helpers.register(registry, root, "four")
    tested = []
    assert _rollback(registry, to="4", tester=tested.append).to_version == "4"
    assert [v.version for v in tested] == ["4"]


def test_the_pointer_follows_every_move_and_is_replaced_whole(registry, root):
    helpers.register(registry, root, "one", "two")
    _promote(registry, "1")
    _promote(registry, "2")
    pointer = helpers.journal(registry).pointer_file(CHAMPION)
    assert json.loads(pointer.read_text())["version"] == "2"
    assert [p.name for p in pointer.parent.iterdir()] == ["champion.json"]
    assert {v.version: v.aliases for v in registry.versions()} == {"1": (), "2": (CHAMPION,)}
    assert _promote(registry, "2") is None  # Already the champion: nothing recorded.
    assert len(committed(LocalMover(registry).entries())) == 2


def test_auto_promotion_is_idempotent_and_only_moves_forward(registry, root):
    helpers.register(registry, root, "one", "two", "three", "four")
    mover, gate = LocalMover(registry), helpers.gate(registry)
    assert auto_promote(mover, "2", gate, by="run a").to_version == "2"
    assert auto_promote(mover, "2", gate, by="run a again") is None  # A re-announcement: nothing changes.
    with pytest.raises(NotPromotableError, match="version 1 is older than the champion 2"):
        auto_promote(mover, "1", gate, by="a late announcement")
    assert auto_promote(mover, "3", gate, by="run b").to_version == "3"
    with pytest.raises(NotPromotableError, match="version 2 was champion before and was replaced"):
        auto_promote(mover, "2", gate, by="a rerun of run a")
    assert _rollback(registry).to_version == "2"
    with pytest.raises(NotPromotableError, match=r"version 3 was rolled away from .*`models promote 3` does"):
        auto_promote(mover, "3", gate, by="a rerun of run b")
    assert auto_promote(mover, "4", gate, by="run c").to_version == "4"
    assert helpers.agreement(registry) == ("4", "4", "4", [])


def test_auto_promotion_is_off_where_promotion_needs_an_approval(root):
    strict = helpers.registry(root, auto_promote=False)
    helpers.register(strict, root, "one")
    with pytest.raises(NotPromotableError, match="auto-promotion is off here"):
        auto_promote(LocalMover(strict), "1", helpers.gate(strict), by="run")
    with pytest.raises(NotPromotableError, match="--approve"):
        _promote(strict, "1")
    with pytest.raises(NotPromotableError, match="--approve"):
        _rollback(strict)
    move = _promote(strict, "1", approved_by="carol")
    assert move.approved_by == "carol" and committed(LocalMover(strict).entries())[0].approved_by == "carol"


def test_the_gate_runs_the_tests_once_per_version_and_records_the_verdict(registry, root):
    helpers.register(registry, root, "one", "two")
    runs = []

    def fails_two(version):
        runs.append(version.version)
        if version.version == "2":
            raise SmokeFailed(f"version {version.version}: smoke test failed: 1 of 6 shipped records right")

    mover = LocalMover(registry)
    promote(mover, "1", helpers.gate(registry, fails_two), by="a", reason="r")
    with pytest.raises(SmokeFailed, match="1 of 6"):
        promote(mover, "2", helpers.gate(registry, fails_two), by="a", reason="r")
    assert runs == ["1", "2"]

    def never(version):
        raise AssertionError("a recorded verdict stands: no second run")

    with pytest.raises(SmokeFailed, match=r"1 of 6 .*\(recorded .* by test\)"):
        promote(mover, "2", helpers.gate(registry, never), by="a", reason="r")
    _promote(registry, "1")  # already champion
    records = [json.loads(line) for line in helpers.outcomes_file(registry).read_text().splitlines()]
    assert [(r["version"], r["passed"]) for r in records] == [("1", True), ("2", False)]
    assert helpers.agreement(registry) == ("1", "1", "1", [])


def test_bad_moves_change_nothing(registry, root):
    helpers.register(registry, root, "one")
    registry.register(helpers.stand_in_model(root / "models" / "unblessed", "u"), helpers.LINEAGE, blessed=False)
    _promote(registry, "1")
    with pytest.raises(RegistryError, match="version 9"):
        _promote(registry, "9")
    with pytest.raises(RegistryError, match="numbers"):
        _promote(registry, "latest")
    with pytest.raises(NotPromotableError, match="not blessed"):
        _promote(registry, "2")
    with pytest.raises(NoEarlierChampionError, match="no earlier champion"):
        _rollback(registry)
    with pytest.raises(RegistryError, match="already the champion"):
        _rollback(registry, to="1")
    assert helpers.agreement(registry) == ("1", "1", "1", [])
    assert len(LocalMover(registry).entries()) == 1


def test_a_champion_moved_outside_the_journal_aborts_the_move_and_the_pointer_goes_back(registry, root):
    helpers.register(registry, root, "one", "two", "three")
    _promote(registry, "1")
    registry.client().set_registered_model_alias(registry.target.model_name, CHAMPION, "3")  # e.g. in `mlflow ui`
    with pytest.raises(RegistryError, match=r"champion is on 3 in MLflow, not 1.* rolled back"):
        _promote(registry, "2")
    entries = LocalMover(registry).entries()
    assert [e.state for e in entries] == ["committed", "aborted"]
    assert helpers.journal(registry).pointer(CHAMPION) == "3"  # Serving follows the alias.
    assert repair(LocalMover(registry)) == ([], [])


def test_concurrent_promotions_agree_with_the_history(registry, root):
    helpers.register(registry, root, "1", "2", "3", "4")
    errors = []

    def race(version):
        try:
            # Each opens its own registry, as two processes would; the file lock serialises them.
            other = helpers.registry(root)
            _promote(other, version, by=f"user{version}")
        except RegistryError as err:
            errors.append(err)

    threads = [threading.Thread(target=race, args=(str(n),)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = committed(LocalMover(registry).entries())
    assert not errors and len(history) == 4
    assert [m.from_version for m in history] == [None, *[m.to_version for m in history[:-1]]]
    assert helpers.agreement(registry)[:3] == (history[-1].to_version,) * 3


STEPS = ("intent", "pointer", "alias", "outcome")
# Where the move ends after a stop at each step: the alias move is the commit point.
ROLLED = {"intent": "1", "pointer": "1", "alias": "2", "outcome": "2"}


class StopError(Exception):
    """An exception at a step boundary."""


@pytest.mark.parametrize("step", STEPS)
def test_an_exception_at_any_step_is_settled_at_once(registry, root, step):
    helpers.register(registry, root, "one", "two")
    _promote(registry, "1")

    def stop(name):
        if name == step:
            raise StopError(f"stopped after {name}")

    mover = LocalMover(registry, after_step=stop)
    if ROLLED[step] == "1":
        with pytest.raises(RegistryError, match=f"stopped after {step}.*rolled back"):
            promote(mover, "2", helpers.gate(registry), by="ci", reason="r")
    elif step == "alias":
        assert promote(mover, "2", helpers.gate(registry), by="ci", reason="r").to_version == "2"  # rolled forward
    else:
        with pytest.raises(StopError):  # After the outcome: the move is complete, the error is the caller's.
            promote(mover, "2", helpers.gate(registry), by="ci", reason="r")
    expected = ROLLED[step]
    assert helpers.agreement(registry) == (expected, expected, expected, [])
    assert repair(LocalMover(registry)) == ([], [])


@pytest.mark.parametrize("step", STEPS)
def test_a_sigkill_at_any_step_is_settled_by_the_next_command(registry, root, step):
    helpers.register(registry, root, "one", "two", "three")
    _promote(registry, "1")
    child = subprocess.run(
        [sys.executable, "-m", "tests.promotion_helpers", "promote", str(root), "2", step],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    pending = [e for e in LocalMover(registry).entries() if e.state == "pending"]
    assert len(pending) == (0 if step == "outcome" else 1)
    expected = ROLLED[step]
    # The next command settles it first (here a promotion of 3, whose from_version is what the settle left).
    move = _promote(registry, "3")
    assert move.from_version == expected
    entries = LocalMover(registry).entries()
    assert [e.state for e in entries][-2:] == ["committed" if expected == "2" else "aborted", "committed"]
    assert helpers.agreement(registry) == ("3", "3", "3", [])


def test_repair_settles_a_killed_move_and_the_history_reads_in_between(registry, root):
    helpers.register(registry, root, "one", "two")
    _promote(registry, "1")
    subprocess.run(
        [sys.executable, "-m", "tests.promotion_helpers", "promote", str(root), "2", "pointer"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    mover = LocalMover(registry)
    assert [m.to_version for m in committed(mover.entries())] == ["1"]  # The pending move is not history.
    assert helpers.journal(registry).pointer(CHAMPION) == "2"  # Serving ran ahead of the commit point.
    settled, changed = repair(mover)
    assert [(e.sequence, e.state) for e in settled] == [(2, "aborted")] and changed == []
    assert "rolled back" in settled[0].note
    assert helpers.agreement(registry) == ("1", "1", "1", [])


def test_a_torn_last_line_is_ignored_and_cut_off_by_the_next_record(registry, root):
    helpers.register(registry, root, "one", "two")
    _promote(registry, "1")
    journal = helpers.journal(registry)
    with open(journal.path, "ab") as handle:
        handle.write(b'{"sequence": 2, "state": "pend')  # A writer killed mid-line.
    assert [e.state for e in journal.entries()] == ["committed"]  # Not a JSONDecodeError.
    _promote(registry, "2")
    lines = journal.path.read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 4  # Two moves, intent and outcome each.
    assert helpers.agreement(registry) == ("2", "2", "2", [])


def test_a_damaged_line_before_the_last_is_named(registry, root):
    journal = helpers.journal(registry)
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text('{"not": "a record"}\n{"also": "not"}\n')
    with pytest.raises(RegistryError, match=r"alias-history.jsonl, line 1: not a journal record"):
        journal.entries()


def test_moves_recorded_before_the_journal_had_states_are_history(registry, root):
    helpers.register(registry, root, "one", "two")
    journal = helpers.journal(registry)
    old = {"alias": CHAMPION, "from_version": None, "to_version": "1", "at": "2026-01-01T00:00:00+00:00"}
    old |= {"by": "pipeline:run-1", "reason": "blessed", "kind": "promote"}
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text(json.dumps(old) + "\n")
    registry.client().set_registered_model_alias(registry.target.model_name, CHAMPION, "1")
    journal.write_pointer(CHAMPION, "1", old["at"])
    assert _promote(registry, "2").from_version == "1"
    assert [(e.sequence, e.state) for e in journal.entries()] == [(1, "committed"), (2, "committed")]
    assert _rollback(registry).to_version == "1"


def _root_files(registry, *moves):
    """What a registry from before per-model folders kept at its root: `moves` committed, the pointer on the last."""
    root = Path(registry.target.root)
    lines = []
    for sequence, (before, after) in enumerate(moves, start=1):
        move = {"alias": CHAMPION, "from_version": before, "to_version": after, "at": "2026-01-01T00:00:00+00:00"}
        move |= {"by": "ci", "reason": "r", "kind": "promote"}
        lines += [{"sequence": sequence, "state": state, "move": move} for state in ("pending", "committed")]
        registry.client().set_registered_model_alias(registry.target.model_name, CHAMPION, after)
    (root / "alias-history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "aliases").mkdir()
    (root / "aliases" / "champion.json").write_text(json.dumps({"alias": CHAMPION, "version": moves[-1][1]}))
    (root / "model-tests.jsonl").write_text("")


def test_a_registry_from_before_per_model_folders_keeps_its_history(registry, root):
    """Its root's journal, pointer and outcomes were its one model's: the first move takes them into that
    model's folder, and a rollback follows that history."""
    helpers.register(registry, root, "one", "two", "three")
    _root_files(registry, (None, "1"), ("1", "2"))
    assert _promote(registry, "3").from_version == "2"
    assert not (root / "registry" / "alias-history.jsonl").exists()
    folder = helpers.journal(registry).root
    assert sorted(p.name for p in folder.iterdir()) == ["alias-history.jsonl", "aliases", "model-tests.jsonl"]
    assert [m.to_version for m in committed(LocalMover(registry).entries())] == ["1", "2", "3"]
    assert _rollback(registry).to_version == "2"
    assert helpers.agreement(registry) == ("2", "2", "2", [])


def test_root_files_stay_where_the_registry_holds_several_models(registry, root, tmp_path):
    """Whose they were is not known then: left for a person; the champion is read from MLflow meanwhile."""
    from components.registry import open_registry
    from contracts.registry import registry_target

    helpers.register(registry, root, "one", "two")
    _root_files(registry, (None, "1"))
    other = helpers.config().model_copy(update={"name": "dev"})  # Another registered model in the same registry.
    helpers.register(open_registry(registry_target(other, root)), root, "other")
    assert _promote(registry, "2").from_version == "1"
    assert (root / "registry" / "alias-history.jsonl").exists()
    assert [m.to_version for m in committed(LocalMover(registry).entries())] == ["2"]


def test_a_worker_killed_between_register_and_promote_is_promoted_by_the_rerun(root, monkeypatch):
    """The run worker registers the version, then is SIGKILLed before anything promotes it; a rerun of the
    same run registers nothing new (identical files) and promotes it."""
    from localcloud import run_store, run_worker
    from localcloud.run_store import RunRecord

    child = subprocess.run(
        [sys.executable, "-m", "tests.promotion_helpers", "worker", str(root), "run-a", "model-a"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    registry = helpers.registry(root)
    assert [v.version for v in registry.versions()] == ["1"] and registry.alias_version(CHAMPION) is None
    monkeypatch.setattr("release.model_tests.suite.run_suite", helpers.passes)
    monkeypatch.setattr(run_worker, "_execute", lambda root_, record, env: helpers._registered(root_, "model-a"))
    run_store.reserve(root, RunRecord(job_id="run-b", env="local", pipeline="penguins"))
    assert run_worker.main(["--job-id", "run-b", "--local-root", str(root)]) == 0
    assert run_store.load(root, "run-b").promotion == "champion"
    assert helpers.agreement(registry) == ("1", "1", "1", [])
    run_store.reserve(root, RunRecord(job_id="run-c", env="local", pipeline="penguins"))
    assert run_worker.main(["--job-id", "run-c", "--local-root", str(root)]) == 0
    assert run_store.load(root, "run-c").promotion == "already champion"
