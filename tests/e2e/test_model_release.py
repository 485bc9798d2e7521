"""The release loop end to end: train three versions, promote, serve, switch, roll back twice; a move killed
at every step; the server answers with the champion of the moment, and keeps answering while it moves.

The environment here promotes only with an approval (as prod does) and blesses any model above the absolute
bound, so every run registers a version and every move is an explicit, recorded command.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from contracts.config import load_environment
from pipelines.local import LocalRun, execute
from release import models_cli
from release.model_tests.smoke import shipped_records

pytestmark = pytest.mark.e2e

# A Gentoo from the smoke test's shipped records: raw features, as a request sends them.
INSTANCE = shipped_records("penguins")[0][-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three versions, by three runs with different epochs; no champion yet (promotion needs an approval)."""
    root = tmp_path_factory.mktemp("release")
    text = load_environment("local", "penguins").model_dump_json()
    text = text.replace('"auto_promote":true', '"auto_promote":false').replace(
        '"max_regression":0.01', '"max_regression":1.0'
    )
    env = root / "approved.yaml"
    env.write_text(text)
    config = load_environment(env)
    versions = []
    for epochs in (20, 30, 25):
        summary = execute(
            LocalRun(
                config=config,
                paths=config.local_paths(root),
                num_epochs=epochs,
                learning_rate=0.01,
                labels={"source": "e2e"},
            )
        )
        assert summary.succeeded and summary.blessed and summary.pushed_by_this_run, summary.error
        versions.append(summary.pushed_version)
    return root, env, config, versions


def models(trained, *args):
    root, env = trained[0], trained[1]
    return models_cli.main([*args, "--env", str(env), "--local-root", str(root)])


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_for_version(url, version, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = post(url, {"instances": [INSTANCE]})
        if status == 200 and body["model_version"] == version:
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"version {version} not served within {seconds}s (last: {body})")


def test_train_promote_serve_switch_and_roll_back(trained, capsys):
    from localcloud.serving import make_server

    root, _, config, (first, second, _) = trained
    assert first != second
    assert models(trained, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed][:2] == [first, second] and all(v["aliases"] == [] for v in listed)
    assert [v["lineage"]["parameters"]["num_epochs"] for v in listed] == [20, 30, 25]
    assert models(trained, "promote", first) == 2  # No approval: refused, nothing moved.
    assert models(trained, "promote", first, "--approve", "carol", "--reason", "first release") == 0

    server, watcher = make_server(config, root, 0, poll_seconds=0.2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/models/{config.pipeline_name}:predict"
    statuses, stop = [], threading.Event()

    def keep_asking():
        while not stop.is_set():
            statuses.append(post(url, {"instances": [INSTANCE]})[0])

    sender = threading.Thread(target=keep_asking)
    try:
        status, body = post(url, {"instances": [INSTANCE]})
        assert status == 200 and body["model_version"] == first
        assert body["predictions"][0]["species"] == "Gentoo"
        sender.start()
        assert models(trained, "promote", second, "--approve", "carol") == 0
        wait_for_version(url, second)
        assert models(trained, "rollback", "--approve", "dave", "--reason", "regression") == 0
        wait_for_version(url, first)
        stop.set()
        sender.join()
        assert statuses and set(statuses) == {200}  # Nothing dropped while the champion moved twice.
        for bad, message in [
            ({"instances": [{k: v for k, v in INSTANCE.items() if k != "island"}]}, "missing ['island']"),
            ({"instances": [{**INSTANCE, "body_mass_g": "heavy"}]}, "body_mass_g: expected a number"),
            ({"rows": []}, "instances"),
            ({"instances": []}, "non-empty"),
        ]:
            status, body = post(url, bad)
            assert status == 400 and message in body["error"], (bad, body)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        watcher.stop()
    capsys.readouterr()  # The moves' own lines.
    assert models(trained, "history", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert [(m["from_version"], m["to_version"], m["kind"], m["approved_by"]) for m in history] == [
        (None, first, "promote", "carol"),
        (first, second, "promote", "carol"),
        (second, first, "rollback", "dave"),
    ]


@pytest.fixture
def served(trained):
    """The local server on the trained registry, following its champion; the predict URL."""
    from localcloud.serving import make_server

    root, _, config, _ = trained
    server, watcher = make_server(config, root, 0, poll_seconds=0.2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/models/{config.pipeline_name}:predict"
    finally:
        server.shutdown()
        server.server_close()
        watcher.stop()


def champion_everywhere(trained, capsys):
    """(the history's last champion, the alias, the pointer): `models history` and the registry, read anew."""
    from components.registry import open_registry
    from contracts.registry import CHAMPION, registry_target
    from release.promotion.local_journal import LocalJournal

    root, _, config, _ = trained
    capsys.readouterr()
    assert models(trained, "history", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    registry = open_registry(registry_target(config, root))
    pointer = LocalJournal(root / "registry", config.pipeline_name).pointer(CHAMPION)
    return history[-1]["to_version"] if history else None, registry.alias_version(CHAMPION), pointer


def test_two_rollbacks_go_back_two_champions_and_a_third_refuses(trained, served, capsys):
    versions = trained[3]
    for version in versions:
        assert models(trained, "promote", version, "--approve", "carol") == 0
        wait_for_version(served, version)
    assert models(trained, "rollback", "--approve", "dave") == 0
    wait_for_version(served, versions[1])
    assert models(trained, "rollback", "--approve", "dave") == 0  # Past the version rolled away from.
    wait_for_version(served, versions[0])
    capsys.readouterr()
    assert models(trained, "rollback", "--approve", "dave") == 2
    assert "there is no earlier champion to roll back to" in capsys.readouterr().err
    assert champion_everywhere(trained, capsys) == (versions[0],) * 3


# The steps of a local move (release/promotion/local_mover.py); the alias move is the commit point.
STEPS = ("intent", "pointer", "alias", "outcome")


@pytest.mark.parametrize("step", STEPS)
def test_a_move_killed_at_any_step_is_settled_by_the_next_command(trained, served, capsys, step):
    """A promotion SIGKILLed right after `step`: the next command (here `models history`) settles it, and then
    the history, the alias, the pointer and what the server answers with all name the same version."""
    from contracts.config import REPO_ROOT

    root, env, _, versions = trained
    before = champion_everywhere(trained, capsys)[1]
    if before is None:
        assert models(trained, "promote", versions[0], "--approve", "carol") == 0
        before = versions[0]
    target = next(v for v in versions if v != before)
    child = subprocess.run(
        [sys.executable, "-m", "tests.promotion_helpers", "promote", str(root), target, step, str(env)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    expected = target if step in ("alias", "outcome") else before
    assert champion_everywhere(trained, capsys) == (expected,) * 3
    wait_for_version(served, expected)


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_vertex_mode_serves_the_model_at_aip_storage_uri(trained):
    """`python -m serving --vertex` as Vertex starts it (env vars set), on a version's SavedModel folder."""
    import os
    import subprocess
    import sys

    from components.registry import open_registry
    from contracts.config import REPO_ROOT
    from contracts.registry import registry_target

    root, _, config, (first, _, _) = trained
    uri = open_registry(registry_target(config, root)).get(first).uri
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AIP_STORAGE_URI": uri,
        "AIP_HTTP_PORT": str(port),
        "AIP_PREDICT_ROUTE": "/v1/endpoints/e/deployedModels/d:predict",
        "AIP_HEALTH_ROUTE": "/health",
        "AIP_DEPLOYED_MODEL_ID": "d",
    }
    server = subprocess.Popen([sys.executable, "-m", "serving", "--vertex"], cwd=REPO_ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, statuses = time.monotonic() + 120, []
        while time.monotonic() < deadline and server.poll() is None:
            with contextlib.suppress(OSError):  # Not listening yet.
                statuses.append(_get(f"{base}/health")[0])
            if statuses[-1:] == [200]:
                break
            time.sleep(0.05)
        assert statuses and statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
        url = f"{base}{env['AIP_PREDICT_ROUTE']}"
        status, body = post(url, {"instances": [INSTANCE, INSTANCE]})
        assert status == 200 and body["model_version"] == "d"
        assert [p["species"] for p in body["predictions"]] == ["Gentoo", "Gentoo"]
        status, body = post(url, {"instances": [{**INSTANCE, "sex": 1}]})
        assert status == 400 and "instances[0].sex: expected a string" in body["error"]
        assert post(f"{base}/v1/models/{config.pipeline_name}:predict", {"instances": [INSTANCE]})[0] == 404
        assert post(url, {"instances": [INSTANCE]})[0] == 200  # Still serving.
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_vertex_mode_refuses_a_container_without_its_variables():
    import subprocess
    import sys

    from contracts.config import REPO_ROOT

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "AIP_PREDICT_ROUTE": "/predict"}
    result = subprocess.run(
        [sys.executable, "-m", "serving", "--vertex"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "AIP_STORAGE_URI, AIP_HEALTH_ROUTE not set" in result.stderr


def test_vertex_mode_exits_when_its_model_does_not_load(tmp_path):
    """A replica whose model cannot load must not stay up answering 503 forever: it exits, and says why."""
    import os
    import subprocess
    import sys

    from contracts.config import REPO_ROOT

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AIP_STORAGE_URI": str(tmp_path),  # An empty folder: no SavedModel.
        "AIP_HTTP_PORT": str(_free_port()),
        "AIP_PREDICT_ROUTE": "/predict",
        "AIP_HEALTH_ROUTE": "/health",
    }
    command = [sys.executable, "-m", "serving", "--vertex"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and f"the model at {tmp_path} did not load" in result.stderr
