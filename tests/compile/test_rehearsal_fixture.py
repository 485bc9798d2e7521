"""The cloud rehearsal's stand-in models (rehearsal/fixture.py) come from a pipeline's folder alone (issue 19:
adding a pipeline is a folder and an entry in each environment file; nothing else names it). In a copy of the
repository with two pipelines added the documented way (release/scaffold.py, one from each task), the fixture
builds both, and their models pass those pipelines' model tests (release/model_tests/suite.py), differ in bytes,
and score within each environment's gate on held-out rows of the shipped spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ci.scratch import copy_repository
from contracts.config import REPO_ROOT
from contracts.metrics import gate_metric
from pipelines.sources import pipeline_names
from release.scaffold import scaffold

ADDED = {"third": "diabetes", "fourth": "penguins"}
# Run in the copy (its pipelines/ holds the added ones): build the fixture, then every model test on each model.
BUILD_AND_TEST = """
import sys
from pathlib import Path

from components.registry.predictor import Predictor
from rehearsal.fixture import main
from release.model_tests.suite import TESTS

out, pipelines = Path(sys.argv[1]), sys.argv[2:]
main([str(out), *pipelines])
for pipeline in pipelines:
    for tag in ("a", "b"):
        predictor = Predictor(str(out / pipeline / f"model-{tag}" / "Format-Serving"), tag)
        for name, test in TESTS:
            test(f"{pipeline} model-{tag}", predictor, pipeline)  # SmokeTestFailedError when it fails
            print(f"{pipeline} model-{tag}: {name} passed")
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_fixture_names_no_pipeline():
    source = (REPO_ROOT / "rehearsal" / "fixture.py").read_text()
    assert [name for name in pipeline_names() if name in source] == []


def test_the_fixture_builds_a_scaffolded_pipeline_from_its_folder_alone(tmp_path):
    repo = copy_repository(REPO_ROOT, tmp_path / "repo")
    for name, template in ADDED.items():
        scaffold(name, template, root=repo)
    out = tmp_path / "fixture"
    env = {**os.environ, "PYTHONPATH": str(repo), "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, "-c", BUILD_AND_TEST, str(out), *ADDED],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for name in ADDED:
        for tag in ("a", "b"):
            assert f"{name} model-{tag}: smoke passed" in run.stdout
        models = [_files(out / name / f"model-{tag}" / "Format-Serving") for tag in ("a", "b")]
        assert models[0] != models[1], f"{name}: model-a and model-b are the same bytes"
        figures = json.loads((out / name / "figures.json").read_text())
        assert figures["held-out rows"] > 0 and figures["metrics"]["example_count"] == figures["held-out rows"]
        for environment in ("dev", "prod"):
            settings = yaml.safe_load((repo / "envs" / f"{environment}.yaml").read_text())["pipelines"][name]
            evaluation = settings["evaluation"]
            gate = gate_metric(evaluation["metric"])
            value = figures["metrics"][gate.key]
            assert not gate.better(evaluation["bound"], value), f"{environment}/{name}: {gate.key} {value}"
