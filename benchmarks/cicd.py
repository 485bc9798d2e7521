"""Benchmark the main job (`nox -s cicd`) on a temporary copy of this repository, as a developer runs it.

    nox -s bench_cicd

The copy is a fresh git repository of the project's files that shares this checkout's nox environments
(.nox is linked, not rebuilt), so each figure is the job itself:
- documentation only: the wall time of `nox -s cicd` when only README.md changed (target <= 3 s);
- `modules`: from starting `nox -s cicd` to the pipeline's submission after a change to the model module
  (target <= 30 s of overhead before the pipeline starts), and the steps' seconds;
- `full`: the same after a change to a component (image build skipped here: no Docker engine).
Before them one `nox -s image` records the image for the copy's inputs (what a first full run leaves).
Results go to benchmarks/results/cicd.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ci.scratch import commit, copy_repository, git

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "cicd.json"


def _copy(target: Path) -> Path:
    repo = copy_repository(REPO_ROOT, target)
    (repo / ".nox").symlink_to(REPO_ROOT / ".nox")  # share the environments: measure the job, not installs
    return repo


def _nox(repo: Path, *args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(start time, seconds, result) of `nox -f <copy>/noxfile.py <args>`."""
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(repo / "noxfile.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    if done.returncode != 0:
        raise SystemExit(f"nox {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return start, time.time() - start, done


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _job(repo: Path, start: float) -> dict[str, Any]:
    work = max((repo / "build" / "cicd").iterdir(), key=lambda p: p.stat().st_mtime)
    summary = json.loads((work / "summary.json").read_text())
    runs = summary.get("pipelines", {})
    return {
        "workflows": summary["workflows"],
        "steps": {s["step"]: s["seconds"] for s in summary["steps"]},
        "image": next((s["detail"] for s in summary["steps"] if s["session"] == "image"), None),
        # Per pipeline that ran: the other pipelines do not appear at all.
        "pipelines": {
            name: {
                "to_submission_seconds": round(run["submitted_at"] - start, 2),
                "blessed": run.get("blessed"),
                "model_version": run.get("pushed_version"),
            }
            for name, run in runs.items()
        },
    }


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cicd-") as tmp:
        repo = _copy(Path(tmp) / "repo")
        head = git(repo, "rev-parse", "HEAD").strip()
        _nox(repo, "-s", "image", "--", "--env", "local", "--commit", head, "--output", "build/image.json")
        state = repo / ".local" / "cicd" / "local.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"commit": head}))

        _append(repo / "README.md", "\nA documentation change.\n")
        commit(repo, "docs")
        _, seconds, done = _nox(repo, "-s", "cicd")
        assert "workflows: none" in done.stdout, done.stdout
        results["docs_only_seconds"] = round(seconds, 2)
        print(f"documentation only: {seconds:.2f}s for `nox -s cicd` (target <= 3 s)", flush=True)

        _append(repo / "pipelines" / "penguins" / "modules" / "model.py", "\n# benchmark: a model change\n")
        commit(repo, "model")
        start, seconds, _ = _nox(repo, "-s", "cicd")
        results["modules"] = {**_job(repo, start), "total_seconds": round(seconds, 2)}
        print(f"modules: {json.dumps(results['modules'], indent=2)}", flush=True)

        _append(repo / "components" / "hyperparameters.py", "\n# benchmark: a component change\n")
        commit(repo, "component")
        start, seconds, _ = _nox(repo, "-s", "cicd")
        results["full"] = {**_job(repo, start), "total_seconds": round(seconds, 2)}
        print(f"full: {json.dumps(results['full'], indent=2)}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
