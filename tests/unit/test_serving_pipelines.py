"""One local server for every pipeline's champion: two pipelines' registered models in one registry, each
answered at /v1/models/<pipeline>:predict (and at its model's name) on one port, an unknown one refused naming
them, and `serve --pipeline` serving one."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from contracts.config import load_environment
from localcloud.serving import main as serve_main
from localcloud.serving import make_server
from release.promotion.local_mover import LocalMover
from release.promotion.moves import promote
from tests import promotion_helpers as helpers
from tests.tiny_model import diabetes_least_squares, save_tiny_model, save_tiny_regressor

pytestmark = pytest.mark.slow  # TensorFlow and a real MLflow registry: seconds

PENGUIN = {"island": "Biscoe", "bill_length_mm": 50.0, "bill_depth_mm": 15.2, "flipper_length_mm": 218,
           "body_mass_g": 5700, "sex": "male"}  # fmt: skip
PATIENT = {"age": 59, "sex": 2, "bmi": 32.1, "bp": 101.0, "s1": 157, "s2": 93.2, "s3": 38.0, "s4": 4.0,
           "s5": 4.8598, "s6": 87}  # fmt: skip


def _post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    response = conn.getresponse()
    answer = response.status, json.loads(response.read())
    conn.close()
    return answer


@pytest.fixture
def two_champions(tmp_path):
    """Penguins' champion version 1 and diabetes' version 1, each its own model in one local registry."""
    from components.registry import open_registry
    from contracts.registry import registry_target

    env = helpers.two_pipelines(tmp_path)
    config = load_environment(env)
    models = {
        "penguins": save_tiny_model(tmp_path / "penguins" / "Format-Serving"),
        "diabetes": save_tiny_regressor(tmp_path / "diabetes" / "Format-Serving", *diabetes_least_squares()),
    }
    for pipeline, folder in models.items():
        registry = open_registry(registry_target(config.for_pipeline(pipeline), tmp_path))
        (version, _) = registry.register(str(folder), helpers.LINEAGE, blessed=True)
        promote(LocalMover(registry), version.version, helpers.gate(registry), by="test", reason="r")
    return env, config, tmp_path


def test_one_server_answers_each_pipeline_with_its_champion_and_refuses_an_unknown_one(two_champions):
    _, config, root = two_champions
    server, champions = make_server(config, root, 0, poll_seconds=0.2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert sorted(champions.watchers) == ["diabetes", "penguins"]
        status, body = _post(port, "/v1/models/penguins:predict", {"instances": [PENGUIN]})
        assert status == 200 and body["model_version"] == "1"
        assert body["predictions"][0]["species"] == "Gentoo" and len(body["predictions"][0]["probabilities"]) == 3
        status, body = _post(port, "/v1/models/diabetes:predict", {"instances": [PATIENT, PATIENT]})
        assert status == 200 and body["model_version"] == "1"
        assert [sorted(p) for p in body["predictions"]] == [["progression"], ["progression"]]
        assert 150 < body["predictions"][0]["progression"] < 260
        # The route by the registered model's name (<pipeline>-<env>, as on Vertex) answers the same.
        assert _post(port, "/v1/models/diabetes-local:predict", {"instances": [PATIENT]})[1]["predictions"] == [
            body["predictions"][0]
        ]
        # A request for one pipeline's model with another's features is refused, naming what is wrong.
        status, body = _post(port, "/v1/models/diabetes:predict", {"instances": [PENGUIN]})
        assert status == 400 and "missing ['age'" in body["error"]
        status, body = _post(port, "/v1/models/emperors:predict", {"instances": [PENGUIN]})
        assert status == 404
        assert body["error"] == (
            "unknown path /v1/models/emperors:predict; "
            "the models here: diabetes, penguins (POST /v1/models/<pipeline>:predict)"
        )
    finally:
        server.shutdown()
        server.server_close()
        champions.stop()


def test_serve_takes_one_pipeline_or_refuses_an_unknown_one(two_champions, capsys):
    env, config, root = two_champions
    server, champions = make_server(config, root, 0, pipelines=["diabetes"])
    try:
        assert list(champions.watchers) == ["diabetes"]
    finally:
        server.server_close()
        champions.stop()
    assert serve_main(["--env", str(env), "--pipeline", "emperors", "--local-root", str(root)]) == 2
    assert "its pipelines: diabetes, penguins" in capsys.readouterr().err
