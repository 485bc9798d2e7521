"""Benchmark of the monitor: `nox -s monitor` on 100k and 1M logged requests of one window.

    nox -s bench_monitor [-- --sizes 100000 1000000] [--repeats 3]

Each size gets a fresh local root under build/bench-monitor/<size>/ with penguins' champion (the tiny test model,
registered with span 1 as its lineage: the monitor reads the champion's version and spans, not its weights) and
one hour of logged requests, one instance each, drawn from span 1 with noise, in 4 writers' files (untimed).
Timed: `ci/nox -s monitor -- --local-root R --window-end T` as typed, a fresh process each repeat (the window's
report removed before each, so each decides it anew), median of --repeats; beside it, in process, the same
judgement after the imports (reading the log, TFDV statistics and comparisons, the report). The target: 100k
in at most 15 s, 1M in at most 10x the time of 100k. Results: benchmarks/results/monitor.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from contracts.config import REPO_ROOT, load_environment
from contracts.prediction_log import LoggedRequest, local_log_file

RESULTS = REPO_ROOT / "benchmarks" / "results" / "monitor.json"
WORK = REPO_ROOT / "build" / "bench-monitor"
WINDOW_END = datetime(2026, 12, 5, 7, 0, tzinfo=timezone.utc)
WRITERS = 4
SPAN = REPO_ROOT / "pipelines" / "penguins" / "data" / "span-1" / "penguins.csv"


def _champion(root: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from release.promotion.local_mover import LocalMover
    from release.promotion.moves import promote
    from tests import promotion_helpers as helpers
    from tests.tiny_model import save_tiny_model

    registry = helpers.registry(root)
    folder = save_tiny_model(root / "model" / "Format-Serving")
    version, _ = registry.register(str(folder), helpers.LINEAGE, blessed=True)
    promote(LocalMover(registry), version.version, helpers.gate(registry), by="bench", reason="benchmark")


def _log(root: Path, size: int) -> None:
    with open(SPAN, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if all(row.values())]
    rng = random.Random(size)
    start = WINDOW_END - timedelta(hours=1)
    step = timedelta(hours=1) / size
    folder = root / "predictions" / "penguins"
    handles = {}
    try:
        for number in range(size):
            row = rng.choice(rows)
            moment = start + number * step
            instance = {
                "island": row["island"],
                "bill_length_mm": round(float(row["bill_length_mm"]) + rng.gauss(0, 0.5), 1),
                "bill_depth_mm": round(float(row["bill_depth_mm"]) + rng.gauss(0, 0.2), 1),
                "flipper_length_mm": int(row["flipper_length_mm"]) + rng.randint(-2, 2),
                "body_mass_g": int(row["body_mass_g"]) + rng.randint(-50, 50),
                "sex": row["sex"],
            }
            answer = {"species": row["species"], "probabilities": [0.2, 0.2, 0.6]}
            record = LoggedRequest(moment, "1", [instance], [answer], latency_ms=2.0)
            path = local_log_file(folder, moment, pid=number % WRITERS)
            if path not in handles:
                path.parent.mkdir(parents=True, exist_ok=True)
                handles[path] = open(path, "ab")  # noqa: SIM115 - closed below
            handles[path].write(record.to_line())
    finally:
        for handle in handles.values():
            handle.close()


def _typed(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(REPO_ROOT / "ci" / "nox"), "-s", "monitor", "--", "--local-root", str(root),
         "--pipeline", "penguins", "--window-end", WINDOW_END.isoformat()],
        check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def _in_process(root: Path) -> float:
    from release.monitor.cli import build_monitor
    from release.monitor.window import window_ending

    config = load_environment("local", "penguins")
    monitor = build_monitor(config, "local", root)
    started = time.perf_counter()
    report = monitor.run(window_ending(WINDOW_END, 60))
    elapsed = time.perf_counter() - started
    assert report["requests"]["logged"] > 0
    return elapsed


def one_size(size: int, repeats: int) -> dict:
    root = WORK / str(size)
    shutil.rmtree(root, ignore_errors=True)
    _champion(root)
    _log(root, size)
    decided = root / "data" / "penguins" / "monitoring"
    typed, inside = [], []
    for _ in range(repeats):
        shutil.rmtree(decided, ignore_errors=True)
        typed.append(_typed(root))
        shutil.rmtree(decided, ignore_errors=True)
        inside.append(_in_process(root))
    figures = {
        "requests": size,
        "typed_seconds": round(statistics.median(typed), 2),
        "typed_runs": [round(t, 2) for t in typed],
        "in_process_seconds": round(statistics.median(inside), 2),
        "in_process_runs": [round(t, 2) for t in inside],
    }
    print(json.dumps(figures), flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    results = [one_size(size, args.repeats) for size in args.sizes]
    summary = {"sizes": results}
    by_size = {r["requests"]: r for r in results}
    if 100_000 in by_size:
        summary["100k_within_15s"] = by_size[100_000]["typed_seconds"] <= 15
    if 100_000 in by_size and 1_000_000 in by_size:
        ratio = by_size[1_000_000]["typed_seconds"] / by_size[100_000]["typed_seconds"]
        summary["1m_over_100k"] = round(ratio, 2)
        summary["1m_within_10x"] = ratio <= 10
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "sizes"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
