"""The monitor on the local environment: a window of logged requests against the champion's training span.

The champion is a tiny real SavedModel registered in a local MLflow registry with span 1 as its lineage; the log
is written through the record contract (contracts/prediction_log.py) as the server writes it. TFDV computes
every distance: nothing here is a stand-in for the comparison.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from contracts.config import REPO_ROOT, load_environment
from contracts.prediction_log import LoggedRequest, local_log_file
from release.monitor import cli as monitor_cli
from release.monitor.window import window_ending
from tests import promotion_helpers as helpers
from tests.tiny_model import save_tiny_model

SPAN = REPO_ROOT / "pipelines" / "penguins" / "data" / "span-1" / "penguins.csv"
NOW = datetime(2026, 12, 5, 7, 5, tzinfo=timezone.utc)  # The last complete hour: 06:00-07:00.
WINDOW = window_ending(NOW, 60)

pytestmark = pytest.mark.slow  # A real MLflow registry and TFDV: seconds per test.


def _rows():
    with open(SPAN, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if all(row.values())]
    for row in rows:
        for name in ("bill_length_mm", "bill_depth_mm"):
            row[name] = float(row[name])
        for name in ("flipper_length_mm", "body_mass_g"):
            row[name] = int(row[name])
    return rows


def _predict(instance):
    if instance["flipper_length_mm"] >= 206:
        return "Gentoo"
    return "Chinstrap" if instance["bill_length_mm"] >= 44 else "Adelie"


def write_log(root: Path, instances, start: datetime, version: str = "1", refused: int = 0, partial: bool = False):
    """The window's requests as the server logs them, one instance per request, spread over the window."""
    folder = root / "predictions" / "penguins"
    step = timedelta(minutes=59) / max(len(instances) + refused, 1)
    moment = start
    for number, instance in enumerate(instances):
        features = {k: v for k, v in instance.items() if k != "species"}
        label = _predict(features)
        record = LoggedRequest(moment, version, [features], [{"species": label, "probabilities": [0.1, 0.1, 0.8]}])
        path = local_log_file(folder, moment, pid=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.write(record.to_line())
            if partial and number == len(instances) - 1:
                handle.write(b'{"v": 1, "time": "2026-')  # A writer killed mid-record.
        moment += step
    for _ in range(refused):
        record = LoggedRequest(moment, version, [{"island": "Atlantis"}], None, error="island: 'Atlantis' is unknown")
        with open(local_log_file(folder, moment, pid=2), "ab") as handle:
            handle.write(record.to_line())
        moment += step


@pytest.fixture
def champion(tmp_path):
    """Penguins' champion: the tiny model, trained (by its lineage) on span 1."""
    from release.promotion.local_mover import LocalMover
    from release.promotion.moves import promote

    registry = helpers.registry(tmp_path)
    folder = save_tiny_model(tmp_path / "model" / "Format-Serving")
    version, _ = registry.register(str(folder), helpers.LINEAGE, blessed=True)
    promote(LocalMover(registry), version.version, helpers.gate(registry), by="test", reason="r")
    return tmp_path


def run(root: Path, *extra: str, window_end: datetime = NOW) -> int:
    return monitor_cli.main(
        ["--pipeline", "penguins", "--local-root", str(root), "--window-end", window_end.isoformat(), *extra]
    )


def report_of(root: Path, window) -> dict:
    path = root / "data" / "penguins" / "monitoring" / window.id / "report.json"
    return json.loads(path.read_text())


def test_a_window_like_the_training_data_is_not_flagged_and_its_report_is_kept(champion, capsys):
    rows = _rows()
    write_log(champion, random.Random(1).sample(rows, 300), WINDOW.start)
    assert run(champion) == 0
    out = capsys.readouterr().out
    assert f"penguins window {WINDOW.id}" in out and ": ok" in out
    report = report_of(champion, WINDOW)
    assert report["status"] == "ok" and not report["flagged"]
    assert report["requests"]["logged"] == 300 and report["champion"] == {"version": "1", "spans": [1]}
    names = [row["name"] for row in report["features"]]
    assert names == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    island = report["features"][0]
    assert island["measure"] == "l_infinity" and island["training_distance"] < 0.1
    assert report["features"][1]["measure"] == "jensen_shannon_divergence"
    assert report["prediction"]["column"] == "species" and not report["prediction"]["drifted"]
    page = (champion / "data" / "penguins" / "monitoring" / WINDOW.id / "report.html").read_text()
    assert page.count("<svg") == 7 and "No drift" in page


def test_penguins_from_one_island_are_flagged_with_the_features_that_drifted(champion, capsys):
    rows = [row for row in _rows() if row["island"] == "Biscoe"]
    write_log(champion, random.Random(2).choices(rows, k=300), WINDOW.start)
    assert run(champion) == 1  # action alert: locally the exit status
    report = report_of(champion, WINDOW)
    assert report["status"] == "drift" and report["flagged"]
    assert "island" in report["drifted"]
    assert any(reason.startswith("island: L-infinity") for reason in report["reasons"])
    assert "DRIFT" in capsys.readouterr().out


def test_a_quiet_window_says_so_and_decides_nothing(champion, capsys):
    write_log(champion, _rows()[:20], WINDOW.start)
    assert run(champion) == 0
    assert "too few requests to judge" in capsys.readouterr().out
    assert not (champion / "data" / "penguins" / "monitoring" / WINDOW.id / "report.json").exists()


def test_bad_records_are_counted_and_skipped_and_refusals_make_the_rejected_rate(champion):
    rows = _rows()
    write_log(champion, random.Random(3).sample(rows, 200), WINDOW.start, refused=40, partial=True)
    (champion / "predictions" / "penguins" / "20261205" / "06-9.jsonl").write_bytes(b"not json\n[1]\n")
    assert run(champion) == 1
    report = report_of(champion, WINDOW)
    assert report["requests"]["bad_records"] == 3
    assert report["requests"]["refused"] == 40 and report["requests"]["rejected_rate"] == pytest.approx(40 / 240)
    assert "rejected-requests" in report["drifted"]


def test_the_next_window_is_compared_with_the_previous_one_and_the_history_lists_both(champion, capsys):
    rows = _rows()
    write_log(champion, random.Random(4).sample(rows, 200), WINDOW.start)
    assert run(champion) == 0
    write_log(champion, random.Random(5).sample(rows, 200), WINDOW.end)
    assert run(champion, window_end=NOW + timedelta(hours=1)) == 0
    later = report_of(champion, WINDOW.previous().__class__(WINDOW.end, WINDOW.end + timedelta(hours=1)))
    assert all(row["previous_distance"] is not None for row in later["features"])
    capsys.readouterr()
    assert run(champion, "--history", "--json") == 0
    assert [row["status"] for row in json.loads(capsys.readouterr().out)] == ["ok", "ok"]


def test_a_threshold_for_a_feature_the_schema_does_not_have_is_refused(champion, tmp_path, capsys):
    import yaml

    raw = yaml.safe_load((REPO_ROOT / "envs" / "local.yaml").read_text())
    raw["pipelines"]["penguins"]["monitoring"] = {"drift": {"features": {"wingspan": 0.2}}}
    env = tmp_path / "local.yaml"
    env.write_text(yaml.safe_dump(raw))
    write_log(champion, _rows()[:150], WINDOW.start)
    assert monitor_cli.main(["--env", str(env), "--pipeline", "penguins", "--local-root", str(champion),
                             "--window-end", NOW.isoformat()]) == 2  # fmt: skip
    assert "monitoring.drift.features names wingspan, not in the pipeline's schema" in capsys.readouterr().err


def test_the_environment_refuses_a_threshold_out_of_range():
    from pydantic import ValidationError

    from contracts.environment import Watch

    with pytest.raises(ValidationError, match="thresholds are in"):
        Watch(drift={"features": {"island": 1.5}})
    with pytest.raises(ValidationError, match="log_sample_rate"):
        Watch(log_sample_rate=1.2)
    assert load_environment("local", "penguins").monitoring.log_sample_rate == 1.0


def _retrain_env(tmp_path: Path) -> Path:
    import yaml

    raw = yaml.safe_load((REPO_ROOT / "envs" / "local.yaml").read_text())
    raw["pipelines"]["penguins"]["monitoring"] = {"action": "retrain"}
    env = tmp_path / "retrain.yaml"
    env.write_text(yaml.safe_dump(raw))
    return env


@pytest.mark.server
def test_retrain_sends_one_message_per_window_through_the_local_function_and_starts_one_run(champion, tmp_path):
    """The drifted window's message goes to the pipeline's real function (functions-framework, dry-run backend:
    it records the runs it would start); a re-run of the monitor, and a redelivery, start no second run."""
    from localcloud.pubsub import stop_server
    from release.datacheck.layout import open_store
    from release.monitor import act
    from release.monitor.cli import LocalLog, Monitor, registry_champion

    env = _retrain_env(tmp_path)
    config = load_environment(env, "penguins")
    runs = tmp_path / "runs.jsonl"
    publisher = act.LocalFunctionPublisher(
        config, champion, env, backend={"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": str(runs)}
    )
    monitor = Monitor(
        config,
        open_store(config, champion),
        LocalLog(champion / "predictions" / "penguins"),
        registry_champion(config, champion),
        publisher=publisher,
    )
    biscoe = [row for row in _rows() if row["island"] == "Biscoe"]
    write_log(champion, random.Random(6).choices(biscoe, k=300), WINDOW.start)
    try:
        first = monitor.run(WINDOW)
        again = monitor.run(WINDOW)  # A re-run, or a redelivered schedule: the window is decided, the run sent.
        # A monitor killed after the message went out but before it recorded so sends again: the same run.
        sent_twice = publisher.publish(act.retrain_message(config, first))
    finally:
        stop_server(champion)
    assert first["flagged"] and not first["action"]["retrain"]["already_sent"]
    assert again["already_decided"] and again["action"]["retrain"]["already_sent"]
    started = [json.loads(line) for line in runs.read_text().splitlines()]
    assert len(started) == 1
    run = started[0]
    assert run["job_id"] == first["action"]["retrain"]["job_id"] == sent_twice["job_id"]
    assert not sent_twice["created"]
    assert run["labels"]["source"] == "monitoring" and "island" in run["labels"]["drifted"]
    assert run["message"]["idempotency_key"] == f"monitor-{WINDOW.id}"
    assert run["message"]["drifted_features"] == first["drifted"]
