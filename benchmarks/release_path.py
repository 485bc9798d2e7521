"""Benchmark the release path: compile time, and submit latency on the local backend.

    nox -s bench_release [-- --submits 5]

- compile: `compile_pipeline` for dev in this process (TensorFlow/TFX already loaded) and the compile
  command in a fresh process, as `nox -s compile` runs it;
- submit latency (target <= 1 s): from the `submit` call to its job id on the local backend, in process
  and as `python -m release.submit` in a fresh process. The submitted runs then execute one after another
  (one local root runs one pipeline at a time); the benchmark waits for them (bounded) and reports their
  durations, so "local pipeline timings no worse than the foundation's" can be checked against
  benchmarks/results/local_pipeline.json.
Results go to benchmarks/results/release_path.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from contracts.config import REPO_ROOT

RESULTS = REPO_ROOT / "benchmarks" / "results" / "release_path.json"
IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "0" * 64
WAIT_LIMIT_SECONDS = 600


def fresh_process(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=5, help="local submissions to time (each starts a run)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)

    from contracts.config import environment_file, load_environment
    from contracts.run_request import RunRequest, job_id_for
    from localcloud import run_store
    from localcloud.run_service import LocalSubmitter

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        tmp_path = Path(tmp)
        # Submit latency first: the submitting side must not need TensorFlow, so measure it before loading it.
        config = load_environment("local", "penguins")
        paths = config.local_paths(tmp_path / "local")
        submitter = LocalSubmitter(environment_file("local").resolve(), paths, "penguins")
        latencies = []
        for i in range(args.submits):
            request = RunRequest(
                job_id=job_id_for(config.pipeline_name, f"bench-{i}"),
                parameters={"num_epochs": config.training.num_epochs, "learning_rate": config.training.learning_rate},
            )
            start = time.perf_counter()
            submitter.submit(request)
            latencies.append(time.perf_counter() - start)
        cli_seconds, _ = fresh_process(
            "release.submit", "--env", "local", "--local-root", str(paths.root), "--trigger-id", "bench-cli"
        )
        results["submit_local"] = {
            "in_process_seconds": latencies,
            "in_process_median": statistics.median(latencies),
            "in_process_max": max(latencies),
            "fresh_process_seconds": cli_seconds,
        }

        from pipelines.vertex_compile import compile_pipeline

        start = time.perf_counter()
        compile_pipeline(load_environment("dev"), image=IMAGE, output_dir=tmp_path / "compiled")
        compile_seconds = time.perf_counter() - start
        cli_compile, _ = fresh_process(
            "pipelines.kubeflow_v2_runner", "--env", "dev", "--image", IMAGE, "--output-dir", str(tmp_path / "c2")
        )
        results["compile"] = {"in_process_seconds": compile_seconds, "fresh_process_seconds": cli_compile}

        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while time.monotonic() < deadline:
            records = [run_store.refresh(paths.root, r) for r in run_store.list_runs(paths.root)]
            if records and not any(r.active for r in records):
                break
            time.sleep(1)
        results["local_runs"] = [
            {"job_id": r.job_id, "status": r.status, "seconds": _duration(r.started_at, r.ended_at)}
            for r in sorted(records, key=lambda r: r.created_at or "")
        ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nresults: {RESULTS}")
    return 0


def _duration(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def report(r: dict) -> str:
    s = r["submit_local"]
    verdict = "met" if s["in_process_max"] <= 1.0 else "MISSED"
    lines = [
        f"compile (dev): {r['compile']['in_process_seconds']:.1f} s in process, "
        f"{r['compile']['fresh_process_seconds']:.1f} s as a command",
        f"submit (local), call to job id: median {s['in_process_median'] * 1000:.0f} ms, "
        f"max {s['in_process_max'] * 1000:.0f} ms over {len(s['in_process_seconds'])} (target <= 1 s: {verdict}); "
        f"as a command {s['fresh_process_seconds']:.2f} s",
        "local runs started by those submissions:",
    ]
    for run in r["local_runs"]:
        seconds = f"{run['seconds']:.1f} s" if run["seconds"] is not None else "-"
        lines.append(f"  {run['job_id']}: {run['status']} in {seconds}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
