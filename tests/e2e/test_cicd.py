"""The main job end to end on a temporary git repository (a copy of this one): a module change runs the
`modules` workflow and produces a new blessed model version without an image build, which becomes the
champion; a change to the model tests then re-tests that champion and nothing else; a documentation-only
change then runs nothing. Steps run their session commands with this interpreter (ci.runner.DirectRunner)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci import cicd
from ci.scratch import commit, copy_repository, git
from contracts.config import REPO_ROOT

pytestmark = pytest.mark.e2e


def _cicd(repo: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = cicd.main(["--repo", str(repo), "--direct-python", sys.executable], out=out)
    print(out.getvalue())
    return code, out.getvalue()


def _registry_versions(repo: Path) -> list[str]:
    from components.registry import open_registry
    from contracts.config import load_environment
    from contracts.registry import registry_target

    return [
        v.version
        for v in open_registry(registry_target(load_environment("local", "penguins"), repo / ".local")).versions()
    ]


def test_module_change_runs_the_fast_path_and_docs_run_nothing(tmp_path):
    repo = copy_repository(REPO_ROOT, tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").strip()
    # What an earlier `full` run leaves behind: the image recorded for the current image inputs, and the
    # commit recorded as the last successful one.
    subprocess.run(
        [sys.executable, "-m", "release.image", "--env", "local", "--commit", head, "--output", "build/image.json"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        check=True,
    )
    cicd.write_state(repo, "local", {"commit": head})

    model = repo / "pipelines" / "penguins" / "modules" / "model.py"
    model.write_text(model.read_text() + "\n# A change to the model module only.\n")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA note.\n")
    changed = commit(repo, "tune the model")
    code, out = _cicd(repo)
    assert code == 0, out
    assert "workflows: modules (penguins)" in out  # the other pipeline does not run at all
    (work_dir,) = (repo / "build" / "cicd").iterdir()
    summary = json.loads((work_dir / "summary.json").read_text())
    assert summary["workflows"] == ["modules"]
    # Listed in the workflow's order (the tests ran alongside image and compile; publish waited for them; the
    # pointer moved only once the run was submitted).
    steps = [
        "unit tests",
        "image (existing)",
        *(f"{s} penguins" for s in ("compile", "publish", "submit", "set current")),
    ]
    assert [s["step"] for s in summary["steps"]] == steps
    assert all(s["status"] == "ok" for s in summary["steps"])
    image = json.loads((work_dir / "image.json").read_text())
    assert image["existing"] and not image["built"]  # no image build on the fast path
    assert list(summary["pipelines"]) == ["penguins"]
    pipeline = summary["pipelines"]["penguins"]
    assert pipeline["status"] == "succeeded" and pipeline["blessed"] is True
    assert pipeline["pushed_by_this_run"] and pipeline["pushed_version"] in _registry_versions(repo)
    assert json.loads(cicd.state_path(repo, "local").read_text())["commit"] == changed
    # The template was published for the commit, in the local artifacts store, and became the current one.
    published = repo / ".local" / "published" / "templates"
    record = json.loads((published / "commits" / "penguins" / f"{changed}.json").read_text())
    current = json.loads((published / "current" / "penguins.json").read_text())
    assert current["template_sha256"] == record["template_sha256"] and current["commit"] == changed
    assert current["job_id"] == json.loads((work_dir / "penguins" / "submit.json").read_text())["job_id"]

    # Stricter model tests: only the champion is re-tested, and its verdict recorded with the new tests.
    records = repo / "pipelines" / "penguins" / "model_tests" / "smoke_records.json"
    records.write_text(records.read_text() + "\n")
    commit(repo, "model tests: a reformatted record file")
    code, out = _cicd(repo)
    assert code == 0, out
    assert "workflows: model-tests" in out and "champion " + pipeline["pushed_version"] in out
    outcomes = repo / ".local" / "registry" / "models" / "penguins-local" / "model-tests.jsonl"
    outcomes = outcomes.read_text().splitlines()
    tested = json.loads(outcomes[-1])
    assert (tested["version"], tested["passed"], tested["by"]) == (pipeline["pushed_version"], True, "model-tests")
    assert len({json.loads(line)["tests_sha256"] for line in outcomes}) == 2  # As registered, and re-tested.

    versions, jobs = _registry_versions(repo), len(list((repo / "build" / "cicd").iterdir()))
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nAnother note.\n")
    docs = commit(repo, "docs")
    code, out = _cicd(repo)
    assert code == 0
    assert "workflows: none" in out
    assert len(list((repo / "build" / "cicd").iterdir())) == jobs  # no new run
    assert _registry_versions(repo) == versions
    assert json.loads(cicd.state_path(repo, "local").read_text())["commit"] == docs
