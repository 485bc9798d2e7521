"""The prediction log's writer (serving/prediction_log.py) and the server's records: what a request leaves in
<root>/predictions/<pipeline>/, read back with the contract's own parser, the sample, the full queue that drops
instead of blocking, the hour files, a write error that never reaches a request, and a real model served over
HTTP by the local server."""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import threading
from datetime import datetime, timedelta, timezone

import pytest

from components.registry.predictor import InputError
from contracts.prediction_log import LoggedRequest, local_log_file, parse_record
from serving.http import Endpoint, PredictionServer, Serving
from serving.prediction_log import PredictionLogger

T0 = datetime(2026, 12, 5, 6, 30, tzinfo=timezone.utc)


def _record(moment=T0, x=1.0):
    return LoggedRequest(
        time=moment, model_version="3", instances=[{"x": x}], predictions=[{"y": 2 * x}], latency_ms=1.5
    )


def _read(folder):
    """Every record under `folder`, by file (relative path), each line parsed by the contract's reader."""
    return {
        str(path.relative_to(folder)): [parse_record(line) for line in path.read_bytes().splitlines()]
        for path in sorted(folder.rglob("*.jsonl"))
    }


def _all(folder):
    return [record for records in _read(folder).values() for record in records]


def test_records_are_written_as_the_contract_reads_them_and_close_flushes(tmp_path):
    logger = PredictionLogger(tmp_path, 1.0)
    records = [_record(T0 + timedelta(seconds=i), x=float(i)) for i in range(50)]
    for record in records:
        assert logger.log(record)
    logger.close()
    assert _all(tmp_path) == records  # Parsed back equal, in order, whole lines only.
    assert list(_read(tmp_path)) == [str(local_log_file(tmp_path, T0).relative_to(tmp_path))]
    assert logger.counts() == {"logged": 50, "dropped": 0, "sampled_out": 0, "failed": 0}
    assert not logger.log(_record())  # After close: dropped and counted, never raised.
    assert logger.dropped == 1
    logger.close()  # Twice is fine.


def test_the_sample_is_the_rate(tmp_path, monkeypatch):
    none, half = PredictionLogger(tmp_path / "none", 0.0), PredictionLogger(tmp_path / "half", 0.5)
    random.seed(7)
    try:
        assert not any(none.sampled() for _ in range(1000))
        drawn = sum(half.sampled() for _ in range(4000))
        assert 1700 < drawn < 2300  # 2000 +- 10 sigma: loose, never flaky.
        assert none.sampled_out == 1000 and half.sampled_out == 4000 - drawn
    finally:
        none.close()
        half.close()
    every = PredictionLogger(tmp_path / "all", 1.0)
    monkeypatch.setattr(random, "random", lambda: 0.9999999999)  # The top of random()'s range is still in.
    assert all(every.sampled() for _ in range(100)) and every.sampled_out == 0
    every.close()


def test_a_full_queue_drops_and_counts_without_blocking_the_request(tmp_path):
    logger = PredictionLogger(tmp_path, 1.0, capacity=5)
    writing, release = threading.Event(), threading.Event()
    write = logger._write

    def stuck(records):  # A disk that hangs: the writer holds its first batch.
        if records:
            writing.set()
            release.wait(10)
        write(records)

    logger._write = stuck
    try:
        assert logger.log(_record(x=0.0))
        assert writing.wait(5)
        outcomes = []
        sender = threading.Thread(target=lambda: outcomes.extend(logger.log(_record(x=i)) for i in range(1, 13)))
        sender.start()
        sender.join(5)
        assert not sender.is_alive()  # Never waits for the writer.
        assert outcomes == [True] * 5 + [False] * 7 and logger.dropped == 7
    finally:
        release.set()
        logger.close()
    assert [record.instances[0]["x"] for record in _all(tmp_path)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert logger.counts() == {"logged": 6, "dropped": 7, "sampled_out": 0, "failed": 0}


def test_each_hour_has_its_file_and_the_clock_stamps_the_records(tmp_path):
    now = {"t": T0.replace(minute=59, second=59)}
    logger = PredictionLogger(tmp_path, 1.0, clock=lambda: now["t"])
    assert logger.now() == now["t"]
    late = T0.replace(minute=59, second=59)
    for moment in (late, late + timedelta(seconds=2), late - timedelta(seconds=1), late + timedelta(hours=23)):
        logger.log(_record(moment))
    logger.close()
    # A record a straggler answered after the hour turned still goes to its own hour's file.
    assert {name: [r.time for r in records] for name, records in _read(tmp_path).items()} == {
        str(local_log_file(tmp_path, late).relative_to(tmp_path)): [late, late - timedelta(seconds=1)],
        str(local_log_file(tmp_path, late + timedelta(seconds=2)).relative_to(tmp_path)): [late + timedelta(seconds=2)],
        str(local_log_file(tmp_path, late + timedelta(hours=23)).relative_to(tmp_path)): [late + timedelta(hours=23)],
    }
    pid = os.getpid()
    assert sorted(_read(tmp_path)) == [
        f"20261205/06-{pid}.jsonl",
        f"20261205/07-{pid}.jsonl",
        f"20261206/05-{pid}.jsonl",
    ]


def test_a_partial_last_line_is_ended_before_appending(tmp_path):
    path = local_log_file(tmp_path, T0)
    path.parent.mkdir(parents=True)
    path.write_bytes(_record().to_line() + b'{"v": 1, "time": "2026-')  # A process killed mid-line.
    logger = PredictionLogger(tmp_path, 1.0)
    logger.log(_record(x=9.0))
    logger.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and parse_record(lines[2]).instances == [{"x": 9.0}]


def test_a_write_error_is_counted_and_said_once_never_raised(tmp_path):
    (tmp_path / "log").write_text("a file where the folder should be")  # Every write fails, as on a full disk.
    errors = io.StringIO()
    logger = PredictionLogger(tmp_path / "log", 1.0, errors=errors)
    for i in range(3):
        assert logger.log(_record(T0 + timedelta(hours=i)))
    logger.close()
    assert logger.counts() == {"logged": 0, "dropped": 0, "sampled_out": 0, "failed": 3}
    said = errors.getvalue().splitlines()
    assert len(said) == 1 and "cannot write" in said[0] and "still answered" in said[0]


def test_a_record_that_is_not_json_is_lost_alone(tmp_path):
    errors = io.StringIO()
    logger = PredictionLogger(tmp_path, 1.0, errors=errors)
    nan = LoggedRequest(time=T0, model_version="3", instances=[{"x": float("nan")}], predictions=[{"y": 1.0}])
    for record in (_record(x=1.0), nan, _record(x=2.0)):
        logger.log(record)
    logger.close()
    assert [record.instances for record in _all(tmp_path)] == [[{"x": 1.0}], [{"x": 2.0}]]
    assert logger.counts() == {"logged": 2, "dropped": 0, "sampled_out": 0, "failed": 1}
    assert "could not be written as JSON" in errors.getvalue()


class Doubler:
    """Predicts 2x per instance, refusing a non-number as the Predictor refuses what its schema does not have."""

    def columns(self, instances):
        if not isinstance(instances, list) or not instances:
            raise InputError("'instances' must be a non-empty list of objects")
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict) or not isinstance(instance.get("x"), (int, float)):
                raise InputError(f"instances[{index}].x: expected a number")
        return {"x": [instance["x"] for instance in instances]}

    def run(self, columns):
        return [{"y": 2 * x} for x in columns["x"]]


def _ask(port, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, data, {"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = (response.status, json.loads(response.read()))
    conn.close()
    return answer


def test_the_server_logs_answers_and_schema_refusals_only(tmp_path):
    state = {"serving": None}
    logger = PredictionLogger(tmp_path, 1.0, clock=lambda: T0)
    endpoint = Endpoint(lambda: state["serving"], predict=("/m:predict",), status=("/m",), logger=logger)
    server = PredictionServer(("127.0.0.1", 0), [endpoint])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert _ask(port, "POST", "/m:predict", {"instances": [{"x": 1}]})[0] == 503  # No model: not logged.
        state["serving"] = Serving("7", Doubler())
        assert _ask(port, "POST", "/m:predict", {"instances": [{"x": 1}, {"x": 2.5}]})[0] == 200
        assert _ask(port, "POST", "/m:predict", {"instances": [{"x": "a"}]})[0] == 400
        assert _ask(port, "POST", "/m:predict", {"instances": "all of them"})[0] == 400
        for path, raw in (("/nope:predict", b"{}"), ("/m:predict", b"{not json"), ("/m:predict", b'{"rows": []}')):
            assert _ask(port, "POST", path, raw=raw)[0] in (400, 404)  # Before a model is chosen: not logged.
        status = _ask(port, "GET", "/m")[1]
        assert status["logging"]["dropped"] == 0 and status["batching"]["instances"] == 2
    finally:
        server.shutdown()
        server.server_close()
        logger.close()
    answered, refused, not_a_list = _all(tmp_path)
    assert answered.model_version == "7" and answered.instances == [{"x": 1}, {"x": 2.5}]
    assert answered.predictions == [{"y": 2}, {"y": 5.0}]
    assert answered.error is None and answered.latency_ms >= 0 and T0 - timedelta(seconds=5) < answered.time <= T0
    assert (refused.instances, refused.predictions, refused.error) == (
        [{"x": "a"}],
        None,
        "instances[0].x: expected a number",
    )
    assert refused.model_version == "7" and refused.refused
    assert not_a_list.instances == [] and "non-empty list of objects" in not_a_list.error
    assert logger.counts() == {"logged": 3, "dropped": 0, "sampled_out": 0, "failed": 0}


def test_a_server_without_a_logger_answers_its_status_as_before():
    endpoint = Endpoint(lambda: Serving("1", Doubler()), predict=("/m:predict",), status=("/m",))
    server = PredictionServer(("127.0.0.1", 0), [endpoint])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert "logging" not in _ask(server.server_address[1], "GET", "/m")[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow  # TensorFlow and a real MLflow registry: seconds
def test_the_local_server_logs_each_pipelines_requests_under_the_local_root(tmp_path):
    """The local server on a real (tiny) model: each request answered is a record in the pipeline's folder,
    <root>/predictions/<pipeline>/, as the environment's default sample (all) says; --no-log: none."""
    from components.registry import open_registry
    from contracts.config import load_environment
    from contracts.registry import registry_target
    from localcloud.serving import make_server
    from release.promotion.local_mover import LocalMover
    from release.promotion.moves import promote
    from tests import promotion_helpers as helpers
    from tests.tiny_model import save_tiny_model

    config = load_environment(helpers.two_pipelines(tmp_path))
    registry = open_registry(registry_target(config.for_pipeline("penguins"), tmp_path))
    (version, _) = registry.register(str(save_tiny_model(tmp_path / "Format-Serving")), helpers.LINEAGE, blessed=True)
    promote(LocalMover(registry), version.version, helpers.gate(registry), by="test", reason="r")
    penguin = {"island": "Biscoe", "bill_length_mm": 50.0, "bill_depth_mm": 15.2, "flipper_length_mm": 218,
               "body_mass_g": 5700, "sex": "male"}  # fmt: skip

    server, champions = make_server(config, tmp_path, 0, poll_seconds=0.2, pipelines=["penguins"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    before = datetime.now(timezone.utc)
    try:
        for _ in range(3):
            assert _ask(port, "POST", "/v1/models/penguins:predict", {"instances": [penguin]})[0] == 200
        status, body = _ask(port, "POST", "/v1/models/penguins:predict", {"instances": [{"island": "Biscoe"}]})
        assert status == 400
    finally:
        server.shutdown()
        server.server_close()
        champions.stop()  # Closes the logger: everything queued is on disk.
    folder = config.for_pipeline("penguins").local_paths(tmp_path).predictions("penguins")
    assert folder == tmp_path / "predictions" / "penguins"
    records = _all(folder)
    assert [r.model_version for r in records] == [version.version] * 4
    assert [r.predictions[0]["species"] for r in records[:3]] == ["Gentoo"] * 3
    assert records[0].instances == [penguin] and records[3].error == body["error"] and records[3].predictions is None
    assert all(before - timedelta(seconds=1) < r.time <= datetime.now(timezone.utc) for r in records)

    quiet, champions = make_server(config, tmp_path, 0, pipelines=["penguins"], log_sample_rate=0.0)
    assert champions.loggers == {}
    quiet.server_close()
    champions.stop()
