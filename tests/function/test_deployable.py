"""The deployed source: the archive infra uploads runs on its own, imports light, on exactly its locked requirements."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from infra.function_source import build_archive
from tests.function import ARTICLE_MESSAGE, FUNCTION_DIR, binary_event, pubsub_envelope

# Run in the unzipped archive, as Cloud Functions runs it: functions-framework appends the source folder to
# sys.path and loads main.py from it. Prints what was imported and what one dry-run message did.
PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    folder = sys.argv[1]
    sys.path.append(folder)
    started = time.perf_counter()
    import main
    seconds = time.perf_counter() - started
    loaded = sorted(sys.modules)
    heavy = [m for m in loaded if m.split(".")[0] in ("tensorflow", "tfx", "pipelines", "localcloud", "release")
             or m.startswith(("google.cloud.aiplatform", "google.cloud.storage"))]
    own = {{name[:-3] for name in os.listdir(folder) if name.endswith(".py")}}
    outside = [name for name in own if name in sys.modules and not sys.modules[name].__file__.startswith(folder)]
    import contracts, functions_framework
    app = functions_framework.create_app("trigger_pipeline", os.path.join(folder, "main.py"), "cloudevent")
    status = app.test_client().post("/", headers={headers!r}, data={body!r}).status_code
    print(json.dumps({{"seconds": seconds, "heavy": heavy, "outside": outside, "status": status,
                      "contracts": contracts.__path__[0], "own": sorted(own & set(sys.modules))}}))
    """
)


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """The archive infra deploys, built from this checkout and unzipped into a folder of its own."""
    tmp = tmp_path_factory.mktemp("deployed")
    archive = build_archive(tmp / "zip")
    shutil.unpack_archive(archive.path, tmp / "source", "zip")
    return tmp / "source"


def test_the_unzipped_archive_runs_on_its_own(unpacked, tmp_path):
    """No repository on the path: main imports, `contracts` comes from the archive, a message becomes a run."""
    headers, body = binary_event(pubsub_envelope(ARTICLE_MESSAGE, "deployed-1"), "deployed-1")
    probe = PROBE.format(headers=headers, body=body)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TRIGGER_BACKEND="dry-run", DRY_RUN_LOG=str(tmp_path / "dry-run.jsonl"))
    result = subprocess.run(
        [sys.executable, "-c", probe, str(unpacked)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["contracts"].startswith(str(unpacked)), "contracts must come from the archive"
    assert found["heavy"] == [] and found["outside"] == []
    assert found["status"] == 200 and len((tmp_path / "dry-run.jsonl").read_text().splitlines()) == 1
    # Every module of the folder is part of the import (no dead file is deployed).
    assert set(found["own"]) == {path.stem for path in FUNCTION_DIR.glob("*.py")}
    print(f"\nmodule import of main.py (functions_framework, pydantic included): {found['seconds']:.3f} s")


def test_the_archive_holds_the_folder_and_the_contracts_it_imports(unpacked):
    names = sorted(path.relative_to(unpacked).as_posix() for path in unpacked.rglob("*") if path.is_file())
    own = sorted([*(path.name for path in FUNCTION_DIR.iterdir() if path.suffix == ".py"), "requirements.txt"])
    shipped = [name for name in names if name.startswith("contracts/")]
    assert sorted(set(names) - set(shipped)) == sorted(own)
    # The contracts the function imports, and none it does not (config.py reads environment files: PyYAML).
    # environment_parameters checks infra's ENVIRONMENT_PARAMETERS; registry reads the model out of them;
    # environment names the data area by data_layout's rule and the gate by metrics' table.
    assert shipped == [
        "contracts/__init__.py",
        "contracts/current_template.py",
        "contracts/data_layout.py",
        "contracts/engines.py",
        "contracts/environment.py",
        "contracts/environment_parameters.py",
        "contracts/google_apis.py",
        "contracts/metrics.py",
        "contracts/parameters.py",
        "contracts/regions.py",
        "contracts/registry.py",
        "contracts/run_request.py",
        "contracts/trigger_message.py",
    ]


def _pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("--") and "==" in line:
            name, version = line.rstrip(" \\").split("==")
            pins[name.strip().lower()] = version.split(";")[0].strip()
    return pins


def test_the_requirements_are_locked_with_hashes():
    text = (FUNCTION_DIR / "requirements.txt").read_text()
    pins = _pins(FUNCTION_DIR / "requirements.txt")
    assert {"functions-framework", "cloudevents", "pydantic", "google-cloud-aiplatform", "google-cloud-storage"} <= set(
        pins
    )
    assert text.count("--hash=sha256:") >= len(pins)
    assert "--python-version 3.12" in text
    assert (FUNCTION_DIR / "requirements.in").is_file()


def test_these_tests_run_on_the_functions_runtime_and_requirements():
    """python312, and every package at the version the function's lock pins (what Cloud Functions installs)."""
    assert sys.version_info[:2] == (3, 12), "run them with `nox -s function_tests` (Python 3.12)"
    wrong = {
        name: (pinned, metadata.version(name))
        for name, pinned in _pins(FUNCTION_DIR / "requirements.txt").items()
        if metadata.version(name) != pinned
    }
    assert not wrong, f"installed versions differ from the function's lock: {wrong}"
