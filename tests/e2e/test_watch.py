"""End to end, locally: the real server serves penguins' champion and logs what it answers; the monitor flags the
drifted window and not the undrifted one; `retrain` starts exactly one run for that window through the real
trigger function; a canary of a deliberately worse model is rolled back and a canary of a sound one promoted,
the server splitting the traffic between them meanwhile.

The models are tiny real SavedModels (tests/tiny_model.py; no pipeline is trained here), the registry is the real
local MLflow one, the trigger function runs under functions-framework with its dry-run backend (it records the
runs it would start). Only the log's clock is set by the test, so two windows need no hour of waiting.
"""

from __future__ import annotations

import csv
import http.client
import json
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from contracts.config import REPO_ROOT, load_environment
from contracts.prediction_log import parse_record
from contracts.registry import CANDIDATE, CHAMPION
from localcloud.serving import make_server
from release.datacheck.layout import open_store
from release.monitor import act
from release.monitor.cli import LocalLog, Monitor, registry_champion, registry_mover
from release.monitor.window import window_ending
from release.promotion import canary
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from release.promotion.moves import promote
from tests import promotion_helpers as helpers
from tests.tiny_model import save_tiny_model

pytestmark = [pytest.mark.e2e, pytest.mark.server]

SPAN = REPO_ROOT / "pipelines" / "penguins" / "data" / "span-1" / "penguins.csv"
BOUNDS = {"1": 206, "2": 150, "3": 207}  # 2 calls nearly every penguin a Gentoo: deliberately worse.
QUIET = datetime(2026, 12, 5, 6, 10, tzinfo=timezone.utc)
DRIFTED = QUIET + timedelta(hours=1)


def _rows(island: str | None = None) -> list[dict]:
    with open(SPAN, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if all(row.values())]
    floats, ints = ("bill_length_mm", "bill_depth_mm"), ("flipper_length_mm", "body_mass_g")
    instances = [
        {"island": r["island"], "sex": r["sex"], **{k: float(r[k]) for k in floats}, **{k: int(r[k]) for k in ints}}
        for r in rows
    ]
    return [i for i in instances if island is None or i["island"] == island]


def _post(port: int, instance: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/models/penguins:predict", json.dumps({"instances": [instance]}).encode())
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 200, body
    return body


SENT = [0]  # requests sent so far (every one is logged: the sample rate is 1)


def _send(port: int, instances: list[dict], count: int, seed: int) -> list[str]:
    """`count` requests of one instance each; the versions that answered them."""
    rng = random.Random(seed)
    SENT[0] += count
    return [_post(port, rng.choice(instances))["model_version"] for _ in range(count)]


def _flushed(logger) -> None:
    """Every request sent so far is in the log files."""
    deadline = time.monotonic() + 30
    while logger.counts()["logged"] < SENT[0]:
        assert time.monotonic() < deadline, logger.counts()
        time.sleep(0.05)


@pytest.fixture
def world(tmp_path):
    registry = helpers.registry(tmp_path)
    for version, bound in BOUNDS.items():
        folder = save_tiny_model(tmp_path / f"model-{version}" / "Format-Serving", flipper_bound=bound)
        registry.register(str(folder), helpers.LINEAGE, blessed=True)
    promote(LocalMover(registry), "1", helpers.gate(registry), by="test", reason="first")
    raw = yaml.safe_load((REPO_ROOT / "envs" / "local.yaml").read_text())
    raw["pipelines"]["penguins"]["monitoring"] = {"action": "retrain", "min_requests": 100}
    raw["release"]["canary"] = {"bake_minutes": 1, "min_requests": 40}
    env = tmp_path / "watch.yaml"
    env.write_text(yaml.safe_dump(raw))
    config = load_environment(env, "penguins")
    server, champions = make_server(config, tmp_path, 0, poll_seconds=0.1, pipelines=["penguins"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield config, env, tmp_path, server.server_address[1], champions
    finally:
        server.shutdown()
        server.server_close()
        champions.stop()
        from localcloud.pubsub import stop_server

        stop_server(tmp_path)


def _monitor(config, env: Path, root: Path, now: datetime, runs: Path) -> Monitor:
    backend = {"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": str(runs)}
    return Monitor(
        config,
        open_store(config, root),
        LocalLog(root / "predictions" / "penguins"),
        registry_champion(config, root),
        publisher=act.LocalFunctionPublisher(config, root, env, backend=backend),
        mover=registry_mover(config, root),
        clock=lambda: now,
    )


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_monitor_flags_only_the_drifted_window_retrains_once_and_canaries_roll_themselves(world):
    config, env, root, port, champions = world
    logger = champions.loggers["penguins"]
    runs = root / "runs.jsonl"
    SENT[0] = 0

    # Two windows of served traffic: like the training data, then penguins from one island only.
    logger.now = lambda: QUIET
    assert set(_send(port, _rows(), 300, seed=1)) == {"1"}
    logger.now = lambda: DRIFTED
    _send(port, _rows("Biscoe"), 300, seed=2)
    _flushed(logger)
    records = [parse_record(line) for path in (root / "predictions" / "penguins").rglob("*.jsonl")
               for line in path.read_bytes().splitlines(keepends=True)]  # fmt: skip
    assert len(records) == 600 and {r.model_version for r in records} == {"1"}

    quiet = _monitor(config, env, root, QUIET, runs).run(window_ending(QUIET + timedelta(hours=1), 60))
    assert quiet["status"] == "ok" and not quiet["flagged"] and "retrain" not in quiet["action"]
    drifted_window = window_ending(DRIFTED + timedelta(hours=1), 60)
    drifted = _monitor(config, env, root, DRIFTED, runs).run(drifted_window)
    assert drifted["status"] == "drift" and "island" in drifted["drifted"]
    assert not drifted["action"]["retrain"]["already_sent"]
    again = _monitor(config, env, root, DRIFTED, runs).run(drifted_window)  # a re-run of the schedule
    assert again["already_decided"] and again["action"]["retrain"]["already_sent"]
    started = [json.loads(line) for line in runs.read_text().splitlines()]
    assert len(started) == 1 and started[0]["labels"]["source"] == "monitoring"
    assert "island" in started[0]["labels"]["drifted"]

    # A canary of the worse version 2: the server splits; the monitor rolls it back after its bake time.
    logger.now = lambda: datetime.now(timezone.utc)
    registry = helpers.registry(root)
    start = canary.start(LocalMover(registry), "2", 30, helpers.gate(registry), by="test", reason="canary")
    _wait_for(lambda: champions.candidates["penguins"].current is not None, "the server loads the candidate")
    answered = _send(port, _rows(), 400, seed=3)
    assert {"1", "2"} == set(answered) and 60 < answered.count("2") < 200  # about 30%
    _flushed(logger)
    later = datetime.fromisoformat(start.at) + timedelta(minutes=2)
    verdict = _monitor(config, env, root, later, runs).judge_canary()
    assert verdict["decision"] == "rollback", verdict["reasons"]
    assert registry.alias_version(CHAMPION) == "1" and registry.alias_version(CANDIDATE) == "1"
    _wait_for(lambda: set(_send(port, _rows(), 30, seed=4)) == {"1"}, "the split ends")

    # A canary of the sound version 3: promoted, and then the server answers with it alone.
    start = canary.start(LocalMover(registry), "3", 30, helpers.gate(registry), by="test", reason="canary")
    _wait_for(lambda: champions.candidates["penguins"].current.version == "3", "the server loads the candidate")
    answered = _send(port, _rows(), 400, seed=5)
    assert answered.count("3") > 60
    _flushed(logger)
    later = datetime.fromisoformat(start.at) + timedelta(minutes=2)
    verdict = _monitor(config, env, root, later, runs).judge_canary()
    assert verdict["decision"] == "promote", verdict["reasons"]
    assert registry.alias_version(CHAMPION) == "3"
    _wait_for(lambda: set(_send(port, _rows(), 30, seed=6)) == {"3"}, "the new champion serves everything")
    history = committed(LocalMover(registry).entries())
    assert [(m.alias, m.kind, m.to_version) for m in history][-4:] == [
        (CANDIDATE, "canary", "2"),
        (CANDIDATE, "rollback", "1"),
        (CANDIDATE, "canary", "3"),
        (CHAMPION, "promote", "3"),
    ]
    assert history[-1].figures["candidate"]["requests"] >= 40
