"""The monitor judges a running canary on what each version answered since it started: a deliberately worse
candidate (its predictions far from the champion's) is rolled back, a sound one promoted, each with the figures
that decided it in the history; before its bake time, or with too few requests, it keeps baking."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contracts.config import REPO_ROOT, load_environment
from contracts.prediction_log import LoggedRequest, local_log_file
from contracts.registry import CANDIDATE, CHAMPION
from release.datacheck.layout import open_store
from release.monitor.cli import LocalLog, Monitor, registry_champion, registry_mover
from release.promotion import canary
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from release.promotion.moves import promote
from tests import promotion_helpers as helpers
from tests.tiny_model import save_tiny_model

pytestmark = pytest.mark.slow

SPAN = REPO_ROOT / "pipelines" / "penguins" / "data" / "span-1" / "penguins.csv"
BOUNDS = {"1": 206, "2": 150, "3": 207}  # 2 calls nearly every penguin a Gentoo: a deliberately worse model.


def _instances(count: int, seed: int) -> list[dict]:
    with open(SPAN, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if all(row.values())]
    chosen = random.Random(seed).choices(rows, k=count)
    floats, ints = ("bill_length_mm", "bill_depth_mm"), ("flipper_length_mm", "body_mass_g")
    return [
        {"island": r["island"], "sex": r["sex"], **{k: float(r[k]) for k in floats}, **{k: int(r[k]) for k in ints}}
        for r in chosen
    ]


def _species(instance: dict, bound: int) -> str:
    if instance["flipper_length_mm"] >= bound:
        return "Gentoo"
    return "Chinstrap" if instance["bill_length_mm"] >= 44 else "Adelie"


def serve_log(root: Path, start: datetime, version: str, count: int, seed: int, latency: float = 2.0) -> None:
    """`count` requests answered by `version` (by its rule), as the split server logs them."""
    moment, step = start, timedelta(minutes=50) / count
    variant = "candidate" if version != "1" else "champion"
    for instance in _instances(count, seed):
        answer = {"species": _species(instance, BOUNDS[version]), "probabilities": [0.2, 0.2, 0.6]}
        record = LoggedRequest(moment, version, [instance], [answer], latency_ms=latency, variant=variant)
        path = local_log_file(root / "predictions" / "penguins", moment, pid=int(version))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.write(record.to_line())
        moment += step


@pytest.fixture
def root(tmp_path):
    registry = helpers.registry(tmp_path)
    for version, bound in BOUNDS.items():
        folder = save_tiny_model(tmp_path / f"model-{version}" / "Format-Serving", flipper_bound=bound)
        registry.register(str(folder), helpers.LINEAGE, blessed=True)
    promote(LocalMover(registry), "1", helpers.gate(registry), by="test", reason="first")
    return tmp_path


def _monitor(root: Path, now: datetime) -> Monitor:
    config = load_environment("local", "penguins")
    return Monitor(
        config,
        open_store(config, root),
        LocalLog(root / "predictions" / "penguins"),
        registry_champion(config, root),
        mover=registry_mover(config, root),
        clock=lambda: now,
    )


def _start(root: Path, version: str) -> datetime:
    registry = helpers.registry(root)
    move = canary.start(LocalMover(registry), version, 20, helpers.gate(registry), by="test", reason="canary")
    return datetime.fromisoformat(move.at)


def test_a_worse_candidate_is_rolled_back_with_the_figures_that_decided_it(root):
    started = _start(root, "2")
    serve_log(root, started + timedelta(seconds=1), "1", 400, seed=1)
    serve_log(root, started + timedelta(seconds=1), "2", 120, seed=2)
    verdict = _monitor(root, started + timedelta(minutes=61)).judge_canary()
    assert verdict["decision"] == "rollback"
    assert any("predictions differ from the champion's: L-infinity" in reason for reason in verdict["reasons"])
    registry = helpers.registry(root)
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CANDIDATE) == "1"
    last = committed(LocalMover(registry).entries())[-1]
    assert (last.alias, last.kind, last.by) == (CANDIDATE, "rollback", "monitor")
    assert last.figures["prediction_distance"] > 0.2 and last.figures["candidate"]["requests"] == 120
    assert _monitor(root, started + timedelta(minutes=62)).judge_canary() is None  # Ended: nothing to judge.


def test_a_sound_candidate_is_promoted_after_its_bake_time_and_not_before(root):
    started = _start(root, "3")
    serve_log(root, started + timedelta(seconds=1), "1", 400, seed=3)
    serve_log(root, started + timedelta(seconds=1), "3", 120, seed=4)
    early = _monitor(root, started + timedelta(minutes=30)).judge_canary()
    assert early["decision"] == "baking" and early["reasons"][0].startswith("baking until")
    verdict = _monitor(root, started + timedelta(minutes=61)).judge_canary()
    assert verdict["decision"] == "promote", verdict["reasons"]
    registry = helpers.registry(root)
    assert registry.alias_version(CHAMPION) == "3"
    last = committed(LocalMover(registry).entries())[-1]
    assert (last.alias, last.kind, last.to_version) == (CHAMPION, "promote", "3")
    assert last.figures["p99_ratio"] == pytest.approx(1.0) and last.figures["error_rate_increase"] == 0


def test_a_slower_candidate_is_rolled_back_and_a_quiet_one_keeps_baking(root):
    started = _start(root, "3")
    serve_log(root, started + timedelta(seconds=1), "1", 400, seed=5, latency=2.0)
    serve_log(root, started + timedelta(seconds=1), "3", 50, seed=6, latency=30.0)
    quiet = _monitor(root, started + timedelta(minutes=61)).judge_canary()
    assert quiet["decision"] == "baking" and "too few requests to judge (candidate 50" in quiet["reasons"][0]
    serve_log(root, started + timedelta(seconds=2), "3", 100, seed=7, latency=30.0)
    verdict = _monitor(root, started + timedelta(minutes=62)).judge_canary()
    assert verdict["decision"] == "rollback" and any(r.startswith("p99 30.0 ms") for r in verdict["reasons"])


def test_labels_that_arrived_since_both_were_trained_score_the_candidate_beside_the_champion(root):
    """A span newer than both versions' training span (1): the worse candidate scores far below the champion on
    it, and that alone rolls it back even where its predictions stay close (a loose prediction bound)."""
    rows = [
        ",".join(["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"])
    ]
    for instance in _instances(200, seed=8):
        label = _species(instance, BOUNDS["1"])
        values = [
            instance[k]
            for k in ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex")
        ]
        rows.append(",".join([label, *map(str, values)]))
    span = root / "data" / "penguins" / "span-2"
    span.mkdir(parents=True)
    (span / "penguins.csv").write_text("\n".join(rows) + "\n")
    started = _start(root, "2")
    serve_log(root, started + timedelta(seconds=1), "1", 400, seed=9)
    serve_log(root, started + timedelta(seconds=1), "2", 120, seed=10)
    monitor = _monitor(root, started + timedelta(minutes=61))
    monitor.config = monitor.config.model_copy(
        update={"release": monitor.config.release.model_copy(
            update={"canary": monitor.config.release.canary.model_copy(update={"max_prediction_distance": 1.0})})}
    )  # fmt: skip
    verdict = monitor.judge_canary()
    assert verdict["decision"] == "rollback"
    labelled = verdict["figures"]["labelled"]
    assert labelled["spans"] == [2] and labelled["records"] == 200 and labelled["champion"] == 1.0
    assert labelled["candidate"] < 0.9 and labelled["regressed"]
    assert any("SparseCategoricalAccuracy on 200 newly labelled records" in r for r in verdict["reasons"])


def test_a_stored_verdict_is_applied_by_canary_settle_and_only_once(root, capsys):
    """The monitor keeps its verdict before it acts; `models canary settle` (the canary build on Google Cloud)
    applies that verdict, so a monitor stopped in between loses nothing and nothing is judged twice."""
    import json as json_

    from release import models_cli
    from release.monitor import canary as judging

    started = _start(root, "2")
    serve_log(root, started + timedelta(seconds=1), "1", 400, seed=11)
    serve_log(root, started + timedelta(seconds=1), "2", 120, seed=12)
    monitor = _monitor(root, started + timedelta(minutes=61))
    running = judging.running_canary(monitor.mover(), settle=True)
    assert models_cli.main(["canary", "settle", "--pipeline", "penguins", "--local-root", str(root)]) == 0
    assert "nothing to settle" in capsys.readouterr().out  # No verdict yet: nothing moves.
    verdict = {"decision": "rollback", "reasons": ["stored"], "figures": {"stored": True}, "canary": running.as_dict()}
    folder = root / "data" / "penguins" / judging.verdict_key(running)
    folder.parent.mkdir(parents=True)
    folder.write_text(json_.dumps(verdict))
    assert models_cli.main(["canary", "settle", "--pipeline", "penguins", "--local-root", str(root), "--json"]) == 0
    move = json_.loads(capsys.readouterr().out)
    assert (move["kind"], move["alias"], move["figures"]) == ("rollback", CANDIDATE, {"stored": True})
    assert models_cli.main(["canary", "settle", "--pipeline", "penguins", "--local-root", str(root)]) == 0
    assert "nothing to settle" in capsys.readouterr().out
    assert monitor.judge_canary() is None  # Ended: the monitor judges nothing more.
