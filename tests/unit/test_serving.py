"""The serving package without TensorFlow: micro-batching, the HTTP layer's answers, the champion watcher.

The model here is a stand-in with the Predictor's two halves (`columns` checks, `run` predicts); the real
model's path through the same code is tests/e2e/test_model_release.py.
"""

import http.client
import json
import threading
import time

import pytest

from components.registry.predictor import InputError
from contracts.registry import CHAMPION
from localcloud.champion import ChampionWatcher
from serving.batching import MicroBatcher, ModelError
from serving.http import Endpoint, PredictionServer, Routes, Serving
from serving.vertex import VertexConfigError, settings


class Doubler:
    """Predicts 2x per instance; records each model call's size; `run` can be slowed to let a queue form."""

    def __init__(self, delay=0.0, poison=None):
        self.calls, self.delay, self.poison = [], delay, poison

    def columns(self, instances):
        if not isinstance(instances, list) or not instances:
            raise InputError("'instances' must be a non-empty list of objects")
        for index, instance in enumerate(instances):
            if not isinstance(instance.get("x"), (int, float)):
                raise InputError(f"instances[{index}].x: expected a number, got {instance.get('x')!r}")
        return {"x": [instance["x"] for instance in instances]}

    def run(self, columns):
        self.calls.append(len(columns["x"]))
        time.sleep(self.delay)
        if self.poison in columns["x"]:
            raise RuntimeError(f"cannot predict on {self.poison}")
        return [{"y": 2 * x} for x in columns["x"]]


def _concurrently(count, target):
    results = [None] * count

    def call(i):
        results[i] = target(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_requests_share_model_calls_and_get_their_own_results():
    model, batcher = Doubler(delay=0.02), MicroBatcher(max_instances=64, max_wait_s=0.005)
    try:
        results = _concurrently(16, lambda i: batcher.predict(model, [{"x": i}, {"x": 100 + i}]))
    finally:
        batcher.stop()
    assert results == [[{"y": 2 * i}, {"y": 2 * (100 + i)}] for i in range(16)]
    assert sum(model.calls) == 32 and len(model.calls) < 16  # Fewer model calls than requests.
    assert max(model.calls) <= 64 and batcher.instances == 32


def test_a_batch_never_exceeds_its_bound_nor_mixes_models():
    old, new, batcher = Doubler(delay=0.01), Doubler(delay=0.01), MicroBatcher(max_instances=5, max_wait_s=0.01)
    try:
        results = _concurrently(12, lambda i: batcher.predict(old if i % 2 else new, [{"x": i}, {"x": i}]))
    finally:
        batcher.stop()
    assert results == [[{"y": 2 * i}] * 2 for i in range(12)]
    assert max(old.calls + new.calls) <= 4 and sum(old.calls) == sum(new.calls) == 12


def test_a_bad_request_is_refused_alone():
    model, batcher = Doubler(delay=0.01, poison=7), MicroBatcher(max_wait_s=0.01)
    try:
        with pytest.raises(InputError, match=r"instances\[0\].x: expected a number"):
            batcher.predict(model, [{"x": "seven"}])
        results = _concurrently(10, lambda i: _outcome(batcher, model, i))
    finally:
        batcher.stop()
    # The model fails on 7 only: the batch it was in is retried request by request, the others are answered.
    assert results[7].startswith("ModelError: the model could not predict") and "cannot predict on 7" in results[7]
    assert [r for i, r in enumerate(results) if i != 7] == [[{"y": 2 * i}] for i in range(10) if i != 7]


def _outcome(batcher, model, i):
    try:
        return batcher.predict(model, [{"x": i}])
    except ModelError as err:
        return f"ModelError: {err}"


def test_bounds_are_checked():
    with pytest.raises(ValueError, match="max_instances 0"):
        MicroBatcher(max_instances=0)


@pytest.fixture
def served():
    """A server on a free loopback port; `state["serving"]` is what it serves (None: nothing loaded yet)."""
    state = {"serving": None}
    routes = Routes(predict="/v1/models/m:predict", status="/v1/models/m", health="/health", unavailable="loading")
    server = PredictionServer(("127.0.0.1", 0), routes, lambda: state["serving"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], state
    server.shutdown()
    server.server_close()


def _ask(port, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, data, {"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = (response.status, json.loads(response.read()))
    conn.close()
    return answer


def test_answers_4xx_naming_the_problem_and_503_only_before_a_model(served):
    port, state = served
    assert _ask(port, "GET", "/health") == (503, {"error": "loading"})
    assert _ask(port, "POST", "/v1/models/m:predict", {"instances": [{"x": 1}]}) == (503, {"error": "loading"})
    state["serving"] = Serving("7", Doubler(poison=13))
    assert _ask(port, "GET", "/health") == (200, {"status": "ready", "model_version": "7"})
    idle = {"model_version": "7", "batching": {"batches": 0, "instances": 0}}
    assert _ask(port, "GET", "/v1/models/m") == (200, idle)
    ok = _ask(port, "POST", "/v1/models/m:predict", {"instances": [{"x": 1}, {"x": 2.5}]})
    assert ok == (200, {"predictions": [{"y": 2}, {"y": 5.0}], "model_version": "7"})
    for path, body, raw, status, message in [
        ("/v1/models/m:predict", None, b"{not json", 400, "body is not JSON"),
        ("/v1/models/m:predict", {"rows": []}, None, 400, "instances"),
        ("/v1/models/m:predict", {"instances": []}, None, 400, "non-empty"),
        ("/v1/models/m:predict", {"instances": [{"x": "a"}]}, None, 400, "instances[0].x: expected a number"),
        ("/v1/models/m:predict", {"instances": [{"x": 13}]}, None, 422, "cannot predict on 13"),
        ("/v1/models/other:predict", {"instances": [{"x": 1}]}, None, 404, "predictions are at /v1/models/m:predict"),
    ]:
        got_status, got = _ask(port, "POST", path, body, raw)
        assert got_status == status and message in got["error"], (path, body, got)
    assert _ask(port, "GET", "/nope")[0] == 404
    assert _ask(port, "POST", "/v1/models/m:predict", {"instances": [{"x": 3}]})[0] == 200  # Still serving.
    # Micro-batches served: the two-instance request, the one the model failed on, and the last one.
    assert _ask(port, "GET", "/v1/models/m")[1]["batching"] == {"batches": 3, "instances": 4}


def test_a_burst_of_new_connections_is_served_not_reset(served):
    """48 senders connecting at once: socketserver's default backlog of 5 would reset most of them."""
    port, state = served
    state["serving"] = Serving("1", Doubler())
    answers = _concurrently(48, lambda i: _ask(port, "POST", "/v1/models/m:predict", {"instances": [{"x": i}]}))
    assert answers == [(200, {"predictions": [{"y": 2 * i}], "model_version": "1"}) for i in range(48)]


def test_one_server_serves_several_models_each_on_its_paths_with_its_own_batcher():
    state = {"a": Serving("1", Doubler()), "b": None}
    endpoints = [
        Endpoint(
            lambda: state["a"], predict=("/v1/models/a:predict", "/v1/models/a-x:predict"), status=("/v1/models/a",)
        ),
        Endpoint(lambda: state["b"], predict=("/v1/models/b:predict",), status=("/v1/models/b",), unavailable="no b"),
    ]
    server = PredictionServer(("127.0.0.1", 0), endpoints, not_found="the models here: a, b")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        for path in ("/v1/models/a:predict", "/v1/models/a-x:predict"):
            assert _ask(port, "POST", path, {"instances": [{"x": 2}]}) == (
                200,
                {"predictions": [{"y": 4}], "model_version": "1"},
            )
        assert _ask(port, "POST", "/v1/models/b:predict", {"instances": [{"x": 2}]}) == (503, {"error": "no b"})
        state["b"] = Serving("9", Doubler())
        assert _ask(port, "POST", "/v1/models/b:predict", {"instances": [{"x": 3}]})[1]["model_version"] == "9"
        status, body = _ask(port, "POST", "/v1/models/c:predict", {"instances": [{"x": 1}]})
        assert status == 404 and body["error"] == "unknown path /v1/models/c:predict; the models here: a, b"
        assert _ask(port, "GET", "/v1/models/a")[1]["batching"] == {"batches": 2, "instances": 2}
        assert _ask(port, "GET", "/v1/models/b")[1] == {
            "model_version": "9",
            "batching": {"batches": 1, "instances": 1},
        }
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ValueError, match="each path once"):
        PredictionServer(("127.0.0.1", 0), [endpoints[0], endpoints[0]])


def test_vertex_settings_read_what_vertex_sets():
    env = {"AIP_STORAGE_URI": "gs://b/model", "AIP_PREDICT_ROUTE": "/predict", "AIP_HEALTH_ROUTE": "/health"}
    config = settings({**env, "AIP_DEPLOYED_MODEL_ID": "123"})
    assert (config.storage_uri, config.port, config.model_version) == ("gs://b/model", 8080, "123")
    assert (config.routes.predict, config.routes.health, config.routes.status) == ("/predict", "/health", None)
    assert settings({**env, "AIP_HTTP_PORT": "9000"}, model_version="4").port == 9000
    with pytest.raises(VertexConfigError, match="AIP_STORAGE_URI, AIP_HEALTH_ROUTE not set"):
        settings({"AIP_PREDICT_ROUTE": "/p"})
    with pytest.raises(VertexConfigError, match="AIP_HTTP_PORT='http'"):
        settings({**env, "AIP_HTTP_PORT": "http"})
    with pytest.raises(VertexConfigError, match="AIP_PREDICT_ROUTE='predict'"):
        settings({**env, "AIP_PREDICT_ROUTE": "predict"})


class PointerRegistry:
    """A local registry's target, the alias read the watcher makes without a pointer, and stand-in model URIs."""

    def __init__(self, tmp_path):
        self.version, self.reads = "1", 0
        self.target = type("Target", (), {"backend": "mlflow", "root": str(tmp_path), "model_name": "m-local"})
        self.pointer = tmp_path / "models" / "m-local" / "aliases" / "champion.json"

    def alias_version(self, alias):
        assert alias == CHAMPION
        self.reads += 1
        return self.version

    def get(self, version):
        return type("V", (), {"uri": f"model-{version}"})


def test_the_watcher_sees_a_move_through_the_pointer_long_before_its_poll(tmp_path, monkeypatch):
    """The pointer is what serves (a move replaces it before MLflow's alias moves); with none, the alias."""
    import components.registry.predictor as predictor

    monkeypatch.setattr(predictor, "Predictor", lambda uri, version: f"loaded {uri}")
    registry = PointerRegistry(tmp_path)
    watcher = ChampionWatcher(registry, poll_seconds=60, watch_seconds=0.02)
    watcher.start()
    try:
        assert watcher.current.version == "1" and watcher.current.predictor == "loaded model-1"
        time.sleep(0.2)
        assert registry.reads == 1  # No move, no registry read: the stat() alone.
        registry.pointer.parent.mkdir(parents=True)
        registry.pointer.write_text('{"alias": "champion", "version": "2", "at": "t"}')
        deadline = time.monotonic() + 2
        while watcher.current.version != "2" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watcher.current.version == "2"  # Within 2 s, with a 60 s poll: the pointer did it.
        assert registry.reads == 1  # From the pointer, not from the alias (which has not moved yet).
    finally:
        watcher.stop()
