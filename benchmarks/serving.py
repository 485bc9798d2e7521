"""Benchmark of the local prediction server on loopback, bounded in requests and time.

    nox -s bench_serve [-- --pipeline NAME --local-root DIR --requests 2000 --senders 16 --repeats 5
                           --log-rounds 7]

Measures one pipeline's champion (--pipeline; needed where the environment has several), with the last of its
shipped smoke records as the instance. Needs a local registry with two blessed versions of that pipeline (the
environment's, or --local-root); with fewer it trains two into build/bench-serve first (a few minutes), and
reuses them on later runs. Measures, for one raw-feature instance per request: throughput, p50 and p99 of the
server (its own process) under 16 concurrent keep-alive senders, against the same model called in process by
the same 16 threads (directly, and through the server's micro-batcher); the senders' own CPU share (they run
on the same 2 cores) and the load average. The server measured there logs nothing (--no-log, as MLflow's logs
nothing); the prediction log's cost is measured next: a second server logging every request (--log-sample-rate
1, the worst case; to a temporary folder, never into the monitor's input) and the first one take turns under
the same senders and requests, --log-rounds times each, and their medians give the throughput lost and the p99
added, against the budget of 10% each (the log's issue). Then, typed as a user types them (a fresh `ci/nox -s
models -- ...` each, the median of --repeats): `promote` and `rollback` from the command's start to the new
version answering, and `models list` (also without nox). Last, the same champion served by MLflow's own server
(`mlflow models serve -m models:/<name>@champion --env-manager local`, its defaults: one uvicorn worker) under
the same senders and requests (`{"instances": [...]}` on /invocations), side by side with ours.
Results: benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import serving_commands
from contracts.config import REPO_ROOT, add_pipeline_argument, load_pipeline_environment
from contracts.registry import CHAMPION, registry_target
from release.model_tests.behaviour import same
from release.model_tests.smoke import shipped_records

RESULTS = REPO_ROOT / "benchmarks" / "results" / "serving.json"
TIME_LIMIT_SECONDS = 120
MLFLOW_START_SECONDS = 180
# With every request logged, the server keeps at least 90% of its throughput and its p99 grows by at most 10%.
LOGGING_BUDGET_PCT = 10.0


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


def _http_call(port: int, path: str, instance: dict):
    request = json.dumps({"instances": [instance]}).encode()

    def call(state: dict) -> dict:
        if "conn" not in state:
            state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state["conn"].request("POST", path, request, {"Content-Type": "application/json"})
        response = state["conn"].getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"server answered {response.status}: {body}")
        return body

    return call


def _status(port: int, status_path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", status_path)
    status = json.loads(conn.getresponse().read())
    conn.close()
    return status


def _batching(port: int, status_path: str) -> dict[str, float]:
    """The server's micro-batching counters so far: how many model calls served how many instances."""
    batching = _status(port, status_path)["batching"]
    return {"model_calls": batching["batches"], "mean_batch": batching["instances"] / max(batching["batches"], 1)}


def _ensure_two_versions(env: str, pipeline: str | None, root: Path | None) -> Path:
    from components.registry import open_registry

    config = load_pipeline_environment(env, pipeline)
    paths = config.local_paths(root)
    if len(open_registry(registry_target(config, paths.root)).versions()) >= 2:
        return paths.root
    scratch = REPO_ROOT / "build" / "bench-serve"
    if root is None and len(open_registry(registry_target(config, scratch)).versions()) >= 2:
        return scratch  # Trained by an earlier run of this benchmark.
    print(f"fewer than two versions under {paths.root}: training two into {scratch}", flush=True)
    for epochs in (20, 30):
        args = ["--env", env, "--local-root", str(scratch), "--num-epochs", str(epochs)]
        args += ["--pipeline", pipeline] if pipeline else []
        subprocess.run([sys.executable, "-m", "localcloud.pipeline_run", *args], check=True, cwd=REPO_ROOT)
    return scratch


def _models(env: str, root: Path, *args: str) -> None:
    command = serving_commands.direct_models(env, root, *args)  # `args` name the pipeline where needed
    subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def _served_version(port: int, path: str, instance: dict):
    call, state = _http_call(port, path, instance), {}
    return lambda: call(state)["model_version"]


def _mlflow_server(registry, port: int, senders: int, requests: int, instance: dict, expected: dict) -> dict:
    """MLflow's own server on the champion (`models:/<name>@champion`), loaded like ours, then the same load."""
    # It starts `uvicorn` by name: the TFX environment's bin folder must be on PATH (nox puts it there).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.tracking_uri, "PATH": path}
    model = f"models:/{registry.name}@{CHAMPION}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow, "models", "serve", "-m", model, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    # Its log goes to a file, not a pipe: nobody reads a pipe under load, and a full one blocks the server.
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        # Its own session: uvicorn's worker is a child; the whole group is ended by its id afterwards.
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_until_ready(server, port, start, log)
            startup = time.perf_counter() - start
            first = _http_call(port, "/invocations", instance)({})["predictions"][0]
            if not same(first, expected):
                raise RuntimeError(f"MLflow's server predicted {first}, ours {expected}: not the same model")
            load_before = os.getloadavg()[0]
            measured = _concurrently(senders, requests, _http_call(port, "/invocations", instance))
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
    return {**measured, "startup_s": startup, "workers": 1, "load_average_1m_before": load_before}


def _wait_until_ready(server: subprocess.Popen, port: int, start: float, log) -> None:
    while time.perf_counter() - start < MLFLOW_START_SECONDS:
        if server.poll() is not None:
            log.seek(0)
            lines = log.read().decode(errors="replace").replace("\r", "\n").splitlines()
            errors = "\n".join(line for line in lines if "Downloading artifacts" not in line)[-2000:]
            raise RuntimeError(f"mlflow models serve exited with {server.returncode}:\n{errors}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"mlflow models serve did not answer /ping within {MLFLOW_START_SECONDS} s")


@contextmanager
def _our_server(env: str, pipeline: str, root: Path, port: int, *logging: str) -> Iterator[subprocess.Popen]:
    """The local server (`nox -s serve`'s module) in its own process for the pipeline, listening; stopped after
    (SIGTERM: it writes out its log first). `logging`: its log options (--no-log, or a rate and a folder)."""
    command = [sys.executable, "-m", "localcloud.serving", "--env", env, "--pipeline", pipeline,
               "--local-root", str(root), "--port", str(port), "--poll-seconds", "1", *logging]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ}, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        # "serving ... on http://..." once it listens (then a line saying where it logs: a pipe holds it).
        if not server.stdout.readline().startswith("serving "):
            raise RuntimeError(f"the local server did not start ({' '.join(command)})")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _cpu_seconds(pid: int) -> float | None:
    """The CPU seconds (user + system) process `pid` has used, where /proc tells (Linux); else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(args: argparse.Namespace, port: int, pid: int, path: str, instance: dict) -> dict[str, float]:
    """One round on one server, with the CPU the server used per request: the steadier figure of the two when
    other jobs share the machine (throughput and p99 then move with them)."""
    before = _cpu_seconds(pid)
    run = _concurrently(args.senders, args.requests, _http_call(port, path, instance))
    after = _cpu_seconds(pid)
    if before is not None and after is not None:
        run["server_cpu_us_per_request"] = 1e6 * (after - before) / run["requests"]
    return run


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = ("requests", "per_second", "p50_ms", "p99_ms", "sender_cpu_share", "server_cpu_us_per_request")
    return {key: statistics.median(run[key] for run in runs) for key in keys if all(key in run for run in runs)}


def _logging_cost(
    args: argparse.Namespace, root: Path, pipeline: str, path: str, instance: dict, off_server: subprocess.Popen
) -> dict:
    """The prediction log's cost: the server logging nothing (already listening on --port, warm) and a second
    one logging every request (--logging-port) take turns under the same senders and requests, --log-rounds
    times each; the medians of each, the throughput lost and the p99 added, against LOGGING_BUDGET_PCT. On a
    shared 2-core machine one round of either varies by more than the budget: the medians of alternating
    rounds are what compares them."""
    status_path = path.removesuffix(":predict")
    with tempfile.TemporaryDirectory(prefix="bench-serve-log-") as log_root:
        logging = ("--log-sample-rate", "1", "--log-root", log_root)
        load_before = os.getloadavg()[0]
        with _our_server(args.env, pipeline, root, args.logging_port, *logging) as on_server:
            # Warmed up as the first server was, by its first measurement.
            _concurrently(args.senders, args.requests, _http_call(args.logging_port, path, instance))
            servers = ((args.port, off_server.pid), (args.logging_port, on_server.pid))
            runs: dict[int, list[dict[str, float]]] = {args.port: [], args.logging_port: []}
            for turn in range(args.log_rounds):
                # Off then on, then on then off: a machine getting busier or quieter favours neither.
                for port, pid in servers[:: 1 if turn % 2 == 0 else -1]:
                    runs[port].append(_measured(args, port, pid, path, instance))
            off_runs, on_runs = runs[args.port], runs[args.logging_port]
            counts = _status(args.logging_port, status_path)["logging"]
        load_after = os.getloadavg()[0]
        # The server has stopped and written out its log: every answered request is a record on disk.
        records = sum(len(file.read_bytes().splitlines()) for file in Path(log_root).rglob("*.jsonl"))
    off, on = _median_run(off_runs), _median_run(on_runs)
    throughput_loss = 100 * (off["per_second"] - on["per_second"]) / off["per_second"]
    p99_increase = 100 * (on["p99_ms"] - off["p99_ms"]) / off["p99_ms"]
    return {
        "rate": 1.0,
        "rounds": args.log_rounds,
        "off": off,
        "on": on,
        "throughput_loss_pct": throughput_loss,
        "p99_increase_pct": p99_increase,
        "budget_pct": LOGGING_BUDGET_PCT,
        "within_budget": throughput_loss <= LOGGING_BUDGET_PCT and p99_increase <= LOGGING_BUDGET_PCT,
        # Other jobs on the machine make any one round noisy; the benchmark itself keeps ~2 CPUs busy.
        "load_average_1m": {"before": load_before, "after": load_after},
        # The logging server's counters before it stopped, and the records on disk after (the warm-up's too).
        "counters": counts,
        "records_written": records,
        "off_runs": off_runs,
        "on_runs": on_runs,
    }


def _logging_verdict(cost: dict) -> str:
    off, on = cost["off"], cost["on"]
    verdict = "within" if cost["within_budget"] else "OVER"
    cpu = ""
    if "server_cpu_us_per_request" in on and "server_cpu_us_per_request" in off:
        cpu = f"; server CPU {on['server_cpu_us_per_request']:.0f} vs {off['server_cpu_us_per_request']:.0f} us/request"
    load = cost["load_average_1m"]
    return (
        f"prediction log, every request logged vs none (medians of {cost['rounds']} alternating rounds): "
        f"throughput {on['per_second']:.0f}/s vs {off['per_second']:.0f}/s ({cost['throughput_loss_pct']:+.1f}% "
        f"lost), p99 {on['p99_ms']:.1f} ms vs {off['p99_ms']:.1f} ms ({cost['p99_increase_pct']:+.1f}%): "
        f"{verdict} the budget of {cost['budget_pct']:.0f}% / {cost['budget_pct']:.0f}%{cpu}; "
        f"{cost['records_written']} records written, {cost['counters']['dropped']} dropped; load average "
        f"{load['before']:.1f} -> {load['after']:.1f} on {os.cpu_count()} CPUs (this benchmark's own load is ~2)"
    )


def _side_by_side(ours: dict, theirs: dict) -> dict:
    """Ours over MLflow's: throughput (higher is better) and latency (lower is better) as ratios."""
    return {
        "throughput_x": ours["per_second"] / theirs["per_second"],
        "p50_x": theirs["p50_ms"] / ours["p50_ms"],
        "p99_x": theirs["p99_ms"] / ours["p99_ms"],
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_serve", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mlflow-port", type=int, default=8766)
    parser.add_argument("--logging-port", type=int, default=8767, help="the server that logs every request")
    parser.add_argument(
        "--log-rounds", type=int, default=7, help="turns of each server, logging and not, for the log's cost"
    )
    parser.add_argument("--repeats", type=int, default=5, help="samples of each typed command (their median)")
    args = parser.parse_args(argv)
    if args.log_rounds < 1:
        parser.error(f"--log-rounds {args.log_rounds}: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from components.registry import open_registry
    from components.registry.predictor import Predictor
    from serving.batching import MicroBatcher

    root = _ensure_two_versions(args.env, args.pipeline, args.local_root)
    config = load_pipeline_environment(args.env, args.pipeline)
    pipeline = config.dataset
    # The last of the pipeline's shipped smoke records (penguins: a Gentoo): raw features, as a request sends them.
    instance = shipped_records(pipeline)[0][-1]
    registry = open_registry(registry_target(config, root))
    older, newer = [v.version for v in registry.versions()][-2:]
    if registry.alias_version(CHAMPION) != newer:
        promote = ("promote", newer, "--reason", "bench_serve setup", "--approve", "bench", "--pipeline", pipeline)
        _models(args.env, root, *promote)
    predictor = Predictor(registry.get(newer).uri, newer)
    expected = predictor.predict([instance])[0]
    in_process = _concurrently(args.senders, args.requests, lambda state: predictor.predict([instance]))
    # The same model through the server's micro-batcher, without HTTP: what batching alone gives.
    batcher = MicroBatcher()
    batched = _concurrently(args.senders, args.requests, lambda state: batcher.predict(predictor, [instance]))
    batcher.stop()
    load_before = os.getloadavg()
    path = f"/v1/models/{pipeline}:predict"
    with _our_server(args.env, pipeline, root, args.port, "--no-log") as off_server:
        served = _concurrently(args.senders, args.requests, _http_call(args.port, path, instance))
        served.update(_batching(args.port, path.removesuffix(":predict")))
        # Before the moves: the logging server would load each moved version too, and take CPU from them.
        logging_cost = _logging_cost(args, root, pipeline, path, instance, off_server)
        # ci/nox's first call installs.
        serving_commands.run(serving_commands.nox_models(args.env, root, "list", "--pipeline", pipeline))
        served_version = _served_version(args.port, path, instance)
        moves = serving_commands.moves(args.env, pipeline, root, older, newer, args.repeats, served_version)
    listing = serving_commands.listing(args.env, pipeline, root, args.repeats)
    mlflow_served = _mlflow_server(registry, args.mlflow_port, args.senders, args.requests, instance, expected)
    results = {
        "pipeline": pipeline,
        "senders": args.senders,
        "server": served,
        "mlflow_server": mlflow_served,
        "ours_vs_mlflow": _side_by_side(served, mlflow_served),
        "in_process": in_process,
        "in_process_batched": batched,
        "server_vs_in_process": served["per_second"] / in_process["per_second"],
        "prediction_log": logging_cost,
        # Typed: a fresh `ci/nox -s models -- ...` each time; medians of --repeats, every sample kept.
        **moves,
        "models_list": listing,
        "cpus": os.cpu_count(),
        # The machine is shared: the 1-minute load average before the server phase and at the end.
        "load_average_1m": {"before": load_before[0], "after": os.getloadavg()[0]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(_logging_verdict(logging_cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
