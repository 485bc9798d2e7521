"""Benchmark of the local prediction server on loopback, bounded in requests and time.

    nox -s bench_serve [-- --local-root DIR --requests 2000 --senders 16]

Needs a local registry with two blessed versions (the environment's, or --local-root); with fewer it trains
two into build/bench-serve first (a few minutes), and reuses them on later runs. Measures, for one
raw-feature instance per request: throughput, p50 and p99 of the server (its own process) under 16
concurrent keep-alive senders, against the same model called in process by the same 16 threads (directly,
and through the server's micro-batcher); the senders' own CPU share (they run on the same 2 cores) and the
load average; then the time from starting `models promote` and `models rollback` (the commands, as a user
runs them) to the new version answering.
Results: benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from contracts.config import REPO_ROOT, load_environment
from contracts.registry import CHAMPION, registry_target
from release.model_tests.smoke import shipped_records

RESULTS = REPO_ROOT / "benchmarks" / "results" / "serving.json"
TIME_LIMIT_SECONDS = 120
# A Gentoo from the smoke test's shipped records: raw features, as a request sends them.
INSTANCE = shipped_records()[0][-1]
BODY = json.dumps({"instances": [INSTANCE]}).encode()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))]}


def _concurrently(senders: int, requests: int, call) -> dict[str, float]:
    """`call()` `requests` times from `senders` threads; throughput, latency percentiles, and the CPU seconds
    this process (the senders) used meanwhile: on 2 cores the senders take CPU from what they measure."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_LIMIT_SECONDS

    def sender(count: int) -> None:
        state: dict = {}
        mine = []
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            call(state)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=sender, args=(requests // senders,)) for _ in range(senders)]
    start, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        **_percentiles(latencies),
        "sender_cpu_share": (time.process_time() - cpu) / elapsed,  # cores' worth the benchmark process used
    }


def _http_call(port: int, path: str):
    def call(state: dict) -> dict:
        if "conn" not in state:
            state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state["conn"].request("POST", path, BODY, {"Content-Type": "application/json"})
        response = state["conn"].getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"server answered {response.status}: {body}")
        return body

    return call


def _batching(port: int, status_path: str) -> dict[str, float]:
    """The server's micro-batching counters so far: how many model calls served how many instances."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", status_path)
    batching = json.loads(conn.getresponse().read())["batching"]
    conn.close()
    return {"model_calls": batching["batches"], "mean_batch": batching["instances"] / max(batching["batches"], 1)}


def _ensure_two_versions(env: str, root: Path | None) -> Path:
    from components.registry import open_registry

    config = load_environment(env)
    paths = config.local_paths(root)
    if len(open_registry(registry_target(config, paths.root)).versions()) >= 2:
        return paths.root
    scratch = REPO_ROOT / "build" / "bench-serve"
    if root is None and len(open_registry(registry_target(config, scratch)).versions()) >= 2:
        return scratch  # Trained by an earlier run of this benchmark.
    print(f"fewer than two versions under {paths.root}: training two into {scratch}", flush=True)
    for epochs in (20, 30):
        args = ["--env", env, "--local-root", str(scratch), "--num-epochs", str(epochs)]
        subprocess.run([sys.executable, "-m", "pipelines.local_runner", *args], check=True, cwd=REPO_ROOT)
    return scratch


def _models(env: str, root: Path, *args: str) -> None:
    command = [sys.executable, "-m", "release.models_cli", *args, "--env", env, "--local-root", str(root)]
    subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def _time_to_serve(env: str, root: Path, port: int, path: str, version: str, *args: str) -> dict[str, float]:
    """Seconds from starting the command to its end, and to the first answer from `version`."""
    start = time.perf_counter()
    _models(env, root, *args)
    command = time.perf_counter() - start
    call, state = _http_call(port, path), {}
    while call(state)["model_version"] != version:
        if time.perf_counter() - start > 60:
            raise RuntimeError(f"version {version} was not served within 60 s")
        time.sleep(0.02)
    return {"command_s": command, "to_served_s": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_serve", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    from components.registry import open_registry
    from components.registry.predictor import Predictor
    from serving.batching import MicroBatcher

    root = _ensure_two_versions(args.env, args.local_root)
    config = load_environment(args.env)
    registry = open_registry(registry_target(config, root))
    older, newer = [v.version for v in registry.versions()][-2:]
    if registry.alias_version(CHAMPION) != newer:
        _models(args.env, root, "promote", newer, "--reason", "bench_serve setup", "--approve", "bench")
    predictor = Predictor(registry.get(newer).uri, newer)
    in_process = _concurrently(args.senders, args.requests, lambda state: predictor.predict([INSTANCE]))
    # The same model through the server's micro-batcher, without HTTP: what batching alone gives.
    batcher = MicroBatcher()
    batched = _concurrently(args.senders, args.requests, lambda state: batcher.predict(predictor, [INSTANCE]))
    batcher.stop()
    load_before = os.getloadavg()
    path = f"/v1/models/{config.pipeline_name}:predict"
    command = [
        sys.executable,
        "-m",
        "localcloud.serving",
        "--env",
        args.env,
        "--local-root",
        str(root),
        "--port",
        str(args.port),
        "--poll-seconds",
        "1",
    ]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ}, stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()  # "serving ... on http://..." once it listens.
        served = _concurrently(args.senders, args.requests, _http_call(args.port, path))
        served.update(_batching(args.port, path.removesuffix(":predict")))
        promote = _time_to_serve(args.env, root, args.port, path, older, "promote", older, "--approve", "bench")
        rollback = _time_to_serve(args.env, root, args.port, path, newer, "rollback", "--approve", "bench")
    finally:
        server.terminate()
        server.wait(timeout=10)
    results = {
        "senders": args.senders,
        "server": served,
        "in_process": in_process,
        "in_process_batched": batched,
        "server_vs_in_process": served["per_second"] / in_process["per_second"],
        "promote": promote,
        "rollback": rollback,
        "cpus": os.cpu_count(),
        # The machine is shared: the 1-minute load average before the server phase and at the end.
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
