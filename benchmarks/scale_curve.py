"""The scale curve: the local pipeline on generated spans of growing size, time and peak memory per component.

    nox -s bench_scale [-- --sizes 10000 100000 1000000 --max-seconds 900 --num-epochs 1 --direct-workers 1]

Each size runs in a fresh process (so one size's memory never inflates the next) on a new local root with a
generated span (benchmarks/penguins_generator.py) as its newest span. Per component: seconds, from ML Metadata
(as the run summary reports them), and peak RSS of the run's process tree while that component ran (sampled
every 0.2 s). Bounded: a size whose predicted time (linear in rows from the sizes measured) would pass
--max-seconds is skipped, saying so; one that runs past it is stopped and reported as a miss.
`--direct-workers N` > 1 runs Beam's DirectRunner in multi-process mode with N workers.
Results: benchmarks/results/scale_curve.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from contracts.config import REPO_ROOT
from contracts.data_layout import span_file, span_folder

RESULTS = REPO_ROOT / "benchmarks" / "results" / "scale_curve.json"
SPAN = 2  # The shipped span is 1; the generated one is the newest, and the one the run reads.
SAMPLE_SECONDS = 0.2
GIB = 1024**3


class RssSampler:
    """Samples the resident memory of this process and its children (DirectRunner's workers) in a thread."""

    def __init__(self) -> None:
        import psutil

        self._errors = psutil.Error
        self._process = psutil.Process()
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except self._errors:  # A worker that exits between listing and reading counts as 0.
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._rss()))
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int | None:
        """The highest sample in [start, end]; None when the interval was shorter than a sampling period."""
        return max((rss for t, rss in self.samples if start <= t <= end), default=None)


def component_intervals(metadata_path: Path, run_id: str) -> dict[str, tuple[float, float]]:
    """(start, end) in epoch seconds of each component execution of run `run_id`, from ML Metadata."""
    from pipelines.summary import open_store

    store = open_store(metadata_path)
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    intervals = {}
    for execution in store.get_executions_by_context(run.id):
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.type == "node":
                node = ctx.name.split(".", 1)[-1]
                intervals[node] = (
                    execution.create_time_since_epoch / 1000,
                    execution.last_update_time_since_epoch / 1000,
                )
    return intervals


def _gib(rss: int | None) -> float | None:
    return None if rss is None else round(rss / GIB, 3)


def measure_one(rows: int, root: Path, num_epochs: int, direct_workers: int) -> dict:
    """One size, in this process: generate the span, run the pipeline, read the figures."""
    import dataclasses

    from benchmarks.penguins_generator import generate
    from contracts.config import load_environment
    from pipelines.local import LocalRun, execute

    config = load_environment("local", "penguins")
    paths = config.local_paths(root)
    start = time.perf_counter()
    generate(rows, paths.data_root(config.dataset) / span_folder(SPAN) / span_file(config.dataset))
    generate_seconds = time.perf_counter() - start
    beam_args: tuple[str, ...] = ()
    if direct_workers > 1:
        beam_args = (f"--direct_num_workers={direct_workers}", "--direct_running_mode=multi_processing")
    run = LocalRun(config=config, paths=paths, num_epochs=num_epochs, learning_rate=config.training.learning_rate)
    run = dataclasses.replace(run, span_start=SPAN, span_end=SPAN, beam_pipeline_args=beam_args)
    with open(os.devnull, "w") as sink, RssSampler() as sampler:
        start = time.perf_counter()
        summary = execute(run, out=sink)
        seconds = time.perf_counter() - start
    intervals = component_intervals(paths.metadata_path, run.run_id)
    components = {
        c.node_id: {
            "seconds": round(c.seconds or 0.0, 2),
            "peak_rss_gib": _gib(sampler.peak(*intervals[c.node_id])) if c.node_id in intervals else None,
        }
        for c in summary.components
    }
    return {
        "rows": rows,
        "succeeded": summary.succeeded,
        "error": summary.error,
        "blessed": summary.blessed,
        "eval_accuracy": summary.metrics.get("sparse_categorical_accuracy"),
        "generate_seconds": round(generate_seconds, 2),
        "pipeline_seconds": round(seconds, 2),
        "peak_rss_gib": _gib(sampler.peak()),
        "components": components,
    }


def _child(args: argparse.Namespace) -> int:
    result = measure_one(args.one, args.root, args.num_epochs, args.direct_workers)
    args.result.write_text(json.dumps(result))
    return 0


def _run_size(rows: int, args: argparse.Namespace, timeout: float, tmp: Path) -> dict:
    result_file = tmp / f"result-{rows}.json"
    command = [sys.executable, "-m", "benchmarks.scale_curve", "--one", str(rows), "--root", str(tmp / f"root-{rows}")]
    command += ["--result", str(result_file), "--num-epochs", str(args.num_epochs)]
    command += ["--direct-workers", str(args.direct_workers)]
    start = time.perf_counter()
    try:
        subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"rows": rows, "missed": f"stopped at the bound: still running after {timeout:.0f} s"}
    except subprocess.CalledProcessError as err:
        return {"rows": rows, "missed": f"the run's process failed (exit {err.returncode})"}
    result = json.loads(result_file.read_text())
    result["process_seconds"] = round(time.perf_counter() - start, 2)
    return result


def predict(measured: list[dict], rows: int) -> float | None:
    """Seconds for `rows`, linear in rows: through the last two sizes measured (fixed cost + cost per row), or
    proportional to the one measured so far; None before any."""
    if not measured:
        return None
    last = measured[-1]
    if len(measured) == 1:
        return float(last["process_seconds"] * rows / last["rows"])
    before = measured[-2]
    per_row = (last["process_seconds"] - before["process_seconds"]) / (last["rows"] - before["rows"])
    return float(last["process_seconds"] + max(per_row, 0.0) * (rows - last["rows"]))


def run_curve(args: argparse.Namespace) -> list[dict]:
    results: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for rows in args.sizes:
            left = args.max_seconds - (time.perf_counter() - start)
            predicted = predict([r for r in results if "process_seconds" in r], rows)
            if predicted is not None and predicted > left:
                reason = f"skipped: predicted {predicted:.0f} s (linear in rows from the sizes measured) "
                reason += f"exceeds the {left:.0f} s left of the bound"
                results.append({"rows": rows, "missed": reason})
                continue
            results.append(_run_size(rows, args, left, Path(tmp)))
            print(line(results[-1]), flush=True)
    return results


def line(result: dict) -> str:
    if "missed" in result:
        return f"{result['rows']:>9} rows: {result['missed']}"
    parts = ", ".join(
        f"{node} {c['seconds']:.1f}s/{c['peak_rss_gib']:.2f}GiB"
        for node, c in result["components"].items()
        if c["seconds"] >= 1.0
    )
    return (
        f"{result['rows']:>9} rows: {result['pipeline_seconds']:.1f} s, peak {result['peak_rss_gib']:.2f} GiB "
        f"(succeeded: {result['succeeded']}, accuracy {result['eval_accuracy']}); {parts}"
    )


def growth(results: list[dict]) -> list[str]:
    """Per component, how time grows from one measured size to the next (1.0x per 10x rows is flat, 10x linear)."""
    measured = [r for r in results if "components" in r]
    lines = []
    for small, big in itertools.pairwise(measured):
        factor = big["rows"] / small["rows"]
        for node, c in big["components"].items():
            before = small["components"].get(node, {}).get("seconds") or 0.0
            if before >= 0.5:
                ratio = c["seconds"] / before
                verdict = "at most linear" if ratio <= factor * 1.1 else "MORE THAN LINEAR"
                lines.append(f"  {node:<16}{small['rows']:>8} -> {big['rows']:<8} x{ratio:5.1f} time ({verdict})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--max-seconds", type=float, default=900.0, help="bound for the whole curve")
    parser.add_argument("--num-epochs", type=int, default=1, help="Trainer time is rows x epochs (default 1)")
    parser.add_argument("--direct-workers", type=int, default=1, help=">1: DirectRunner multi-process")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.one:
        return _child(args)
    results = run_curve(args)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {
            "num_epochs": args.num_epochs,
            "direct_workers": args.direct_workers,
            "max_seconds": args.max_seconds,
        },
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("time growth per component:", *growth(results), sep="\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
