"""A third pipeline, added the documented way (`nox -s new_pipeline`), in a copy of the repository: it is a folder
and an entry in the environment file, routed on its own, and its first run trains, registers and promotes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ci.scratch import commit, copy_repository
from contracts.config import REPO_ROOT


def _python(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo), "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_a_scaffolded_pipeline_trains_registers_and_is_routed_on_its_own(tmp_path):
    repo = copy_repository(REPO_ROOT, tmp_path / "repo")
    made = _python(repo, "-m", "release.scaffold", "third", "--from", "diabetes")
    assert made.returncode == 0, made.stderr
    assert (repo / "pipelines" / "third" / "data" / "span-1" / "third.csv").is_file()
    for env in ("local", "dev", "prod"):
        assert "  third:" in (repo / "envs" / f"{env}.yaml").read_text(), env
    # Nothing else names it: the folder, its tests and the environment entries are all that changed.
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert sorted(line[3:] for line in status.splitlines()) == [
        "envs/dev.yaml",
        "envs/local.yaml",
        "envs/prod.yaml",
        "pipelines/third/",
        "tests/unit/test_third_modules.py",
    ]
    again = _python(repo, "-m", "release.scaffold", "third", "--from", "diabetes")
    assert again.returncode == 2 and "pipelines/third exists already" in again.stderr
    commit(repo, "a third pipeline")

    planned = _python(repo, "-m", "ci.plan", "--files", "pipelines/third/modules/model.py")
    assert json.loads(planned.stdout)["pipelines"] == {"modules": ["third"]}

    run = _python(repo, "-m", "localcloud.pipeline_run", "--pipeline", "third", "--local-root", str(tmp_path / "local"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "blessed: yes" in run.stdout and "model version: 1 (pushed by this run)" in run.stdout
    assert "root_mean_squared_error" in run.stdout
