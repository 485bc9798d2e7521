"""Benchmark infra synthesis: `python -m infra.synth` for every environment, each run a cold process.

    python -m benchmarks.infra_synth [--runs 3]      (in the infra environment, .nox/infra)

Target: <= 30 s for all environments on a 2-core machine. A cold process pays for everything a platform
engineer or CI pays for: Python and jsii start-up, Node loading the provider assembly, building and writing
both stacks. Results go to benchmarks/results/infra_synth.json.
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "infra_synth.json"
TARGET_SECONDS = 30.0


def cold_synth(out: Path) -> float:
    """Seconds for one `python -m infra.synth --out OUT` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "infra.synth", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.infra_synth", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = [cold_synth(Path(tmp) / f"run-{i}") for i in range(args.runs)]
    result = {
        "environments": ["dev", "prod"],
        "runs": args.runs,
        "seconds": [round(s, 2) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 2),
        "max_seconds": round(max(seconds), 2),
        "target_seconds": TARGET_SECONDS,
        "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"synthesis of all environments: median {result['median_seconds']} s (target <= {TARGET_SECONDS} s)")
    return 0 if result["max_seconds"] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
