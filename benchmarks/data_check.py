"""Benchmark of the new-data check: start to submission for 1k, 10k and 100k incoming records in 10 files.

    nox -s bench_data [-- --champion-root DIR] [--sizes 1000 10000 100000] [--store local|gcs-emulator]

Each size runs in a fresh local root under build/bench-data/ holding a copy of the registry of
--champion-root (default: the environment's local root), so the champion is really loaded and evaluated on
every valid record; without a champion there the check goes straight to training and the figures say so.
The submission is recorded, not started: the training run is excluded, as the target says. Measured in
process from building the check (schema, registry, submitter) to the submit call, after one warm-up batch of
100 records: the imports (TensorFlow, MLflow) and the first SavedModel load are measured once apart, as
`startup_seconds`, and a cold command pays them once on top. Results: benchmarks/results/data_check.json.

`--store gcs-emulator` runs the same on the GCS store against gcp-storage-emulator on loopback (the files are
uploaded to its incoming/ first, untimed): the emulator's figures, not Cloud Storage's, whose latency per
request is higher. Results: benchmarks/results/data_check_gcs_emulator.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from contracts.config import REPO_ROOT, load_environment
from contracts.run_request import RunRequest, SubmitResult
from localcloud.labelled_data import generate

RESULTS = REPO_ROOT / "benchmarks" / "results" / "data_check.json"
WORK = REPO_ROOT / "build" / "bench-data"
FILES = 10


class StampingSubmitter:
    backend = "bench"

    def __init__(self) -> None:
        self.submitted_at: float | None = None

    def submit(self, request: RunRequest) -> SubmitResult:
        self.submitted_at = time.perf_counter()
        return SubmitResult(request.job_id, self.backend, True, "not started (benchmark)")


def one_size(records: int, champion_root: Path | None, client=None) -> dict:
    """One size on the local store, or (with `client`, a storage.Client of the emulator) on the GCS store."""
    from release.datacheck.cli import build_check

    config = load_environment("local", "penguins")
    root = WORK / str(records)
    shutil.rmtree(root, ignore_errors=True)
    if champion_root and (champion_root / "registry").is_dir():
        shutil.copytree(champion_root / "registry", root / "registry")
    # Always retrain, so every size ends in a submission whatever the champion scores.
    config = config.with_settings(data=config.data.model_copy(update={"retrain": "always"}))
    incoming = Path(config.data_area("incoming", root))
    generate(incoming, records, FILES, None, 0, seed=records, pipeline=config.dataset)
    store = None if client is None else _upload(client, f"bench-{records}-{time.time_ns()}", incoming, config.dataset)
    start = time.perf_counter()
    check = build_check(config, "local", root, None)
    if store is not None:
        check.store = store
    submitter = StampingSubmitter()
    check.submitter = submitter
    steps: dict[str, float] = {"built": time.perf_counter()}
    check.hook = lambda step: steps.setdefault(step, time.perf_counter())
    [outcome] = check.run().batches
    assert submitter.submitted_at is not None
    seconds = submitter.submitted_at - start
    return {
        "records": records,
        "files": FILES,
        "seconds_to_submission": round(seconds, 3),
        "records_per_second": round(records / seconds),
        "champion_evaluated": outcome["evaluation"].get("champion") is not None,
        "champion_metric": outcome["evaluation"].get("metric"),
        "champion_value": outcome["evaluation"].get("value"),
        # Seconds spent in each step, ending at that step's boundary (read + validate = up to "validated").
        "step_seconds": _durations(start, steps),
    }


def _upload(client, bucket_name: str, incoming: Path, dataset: str):
    """A fresh bucket holding the generated files in <dataset>/incoming/; its GcsStore."""
    from release.datacheck.gcs_store import GcsStore

    bucket = client.create_bucket(bucket_name)
    for path in sorted(incoming.iterdir()):
        bucket.blob(f"{dataset}/incoming/{path.name}").upload_from_filename(str(path))
        path.unlink()
    return GcsStore.of(client, f"gs://{bucket_name}/{dataset}")


def _durations(start: float, steps: dict[str, float]) -> dict[str, float]:
    ordered = sorted(steps.items(), key=lambda item: item[1])
    marks = [start, *(t for _, t in ordered)]
    return {name: round(marks[i + 1] - marks[i], 3) for i, (name, _) in enumerate(ordered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.data_check", description=__doc__.splitlines()[0])
    parser.add_argument("--champion-root", type=Path, help="a local root whose registry has a champion")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--store", choices=["local", "gcs-emulator"], default="local")
    args = parser.parse_args(argv)
    champion_root = args.champion_root or load_environment("local", "penguins").local_paths().root
    if args.store == "local":
        return _run(args.sizes, champion_root, None, RESULTS)
    from tests.gcs_emulator import client_for, running_emulator

    with running_emulator() as endpoint:
        return _run(args.sizes, champion_root, client_for(endpoint), RESULTS.with_name("data_check_gcs_emulator.json"))


def _run(sizes: list[int], champion_root: Path, client, results: Path) -> int:
    started = time.perf_counter()
    one_size(100, champion_root, client)  # warm-up: MLflow's import, the registry's database, the first model load
    startup_seconds = time.perf_counter() - started
    rows = [one_size(n, champion_root, client) for n in sizes]
    by_size = {row["records"]: row["seconds_to_submission"] for row in rows}
    result = {"store": "local" if client is None else "gcs-emulator", "startup_seconds": round(startup_seconds, 2)}
    result["sizes"] = rows
    if 10_000 in by_size and 100_000 in by_size:
        result["ratio_100k_to_10k"] = round(by_size[100_000] / by_size[10_000], 2)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    for row in rows:
        print(
            f"{row['records']:>7} records in {FILES} files: {row['seconds_to_submission']:6.2f} s to submission, "
            f"{row['records_per_second']:>7} records/s, champion evaluated: {row['champion_evaluated']}"
        )
    print(f"where the time goes at {rows[-1]['records']}: {rows[-1]['step_seconds']}")
    if "ratio_100k_to_10k" in result:
        print(f"100k / 10k: {result['ratio_100k_to_10k']}x (target <= 10x); 10k target <= 15 s")
    print(f"startup (imports, registry, first model load; once per command): {result['startup_seconds']} s")
    print(f"results ({result['store']} store): {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
