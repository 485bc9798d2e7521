"""Load benchmark of the trigger function on the real functions-framework server, on loopback.

    nox -s bench_trigger [-- --events 5000 --senders 16 --duplicates 0.2 --malformed 0.1]

Sends Pub/Sub CloudEvents from concurrent senders (bounded in count and time): a share are redeliveries
of an earlier message id, a share are malformed. Reports throughput, p50/p99 latency and the number of
submissions in the dry-run log, which must equal the number of distinct valid messages exactly.
Target with the dry-run backend: >= 200 events/s, p99 <= 50 ms. Results: benchmarks/results/trigger_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from contracts.config import REPO_ROOT
from localcloud.pubsub import pubsub_cloudevent, start_server

RESULTS = REPO_ROOT / "benchmarks" / "results" / "trigger_load.json"
TIME_LIMIT_SECONDS = 300
MALFORMED = [
    b"not json",
    {"num_epochs": 0, "learning_rate": 0.1},
    {"num_epochs": 3, "learning_rate": "nan"},
    {"num_epochs": True, "learning_rate": 0.1},
    {"num_epochs": 3, "learning_rate": 0.1, "batch_size": 8},
    {"learning_rate": 0.1},
]


def plan(events: int, duplicates: float, malformed: float, seed: int = 0) -> tuple[list[tuple[str, object]], int]:
    """(message id, payload) per event, and how many distinct valid messages there are."""
    rng = random.Random(seed)
    sent: list[tuple[str, object]] = []
    valid_ids: list[str] = []
    for i in range(events):
        roll = rng.random()
        if roll < duplicates and valid_ids:
            message_id = rng.choice(valid_ids)
            sent.append((message_id, next(p for m, p in sent if m == message_id)))
        elif roll < duplicates + malformed:
            sent.append((f"bad-{i}", rng.choice(MALFORMED)))
        else:
            payload = {"num_epochs": str(rng.randint(1, 50)), "learning_rate": f"{rng.uniform(1e-4, 0.5):.4g}"}
            sent.append((f"msg-{i}", payload))
            valid_ids.append(f"msg-{i}")
    return sent, len(valid_ids)


def send_all(url: str, events: list[tuple[str, object]], senders: int) -> tuple[list[float], list[int], float]:
    target = urlparse(url)
    queue = list(reversed(events))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = time.monotonic() + TIME_LIMIT_SECONDS

    def sender() -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    break
                message_id, payload = queue.pop()
            headers, body = pubsub_cloudevent(
                payload if isinstance(payload, (bytes, dict)) else str(payload), message_id
            )
            start = time.perf_counter()
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--malformed", type=float, default=0.1)
    args = parser.parse_args(argv)
    events, distinct_valid = plan(args.events, args.duplicates, args.malformed)
    with tempfile.TemporaryDirectory(prefix="bench-trigger-") as tmp:
        log = Path(tmp) / "dry-run.jsonl"
        env = {"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": str(log), "PIPELINE_NAME": "penguins-bench"}
        server, url = start_server(env, Path(tmp) / "server.log")
        try:
            latencies, statuses, seconds = send_all(url, events, args.senders)
        finally:
            server.terminate()
            server.wait(timeout=30)
        submissions = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    ordered = sorted(latencies)
    result = {
        "events_planned": len(events),
        "events_sent": len(latencies),
        "senders": args.senders,
        "seconds": seconds,
        "events_per_second": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
        "distinct_valid_messages": distinct_valid,
        "submissions": len(submissions),
        "distinct_job_ids": len({s["job_id"] for s in submissions}),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    exact = result["submissions"] == distinct_valid == result["distinct_job_ids"]
    print(
        f"{result['events_sent']} events from {args.senders} senders in {seconds:.1f} s: "
        f"{result['events_per_second']:.0f} events/s (target >= 200), p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms (target <= 50 ms); non-2xx {result['non_2xx']}; "
        f"submissions {result['submissions']} for {distinct_valid} distinct valid messages "
        f"({'exact' if exact else 'MISMATCH'})"
    )
    return 0 if exact and result["events_sent"] == len(events) else 1


if __name__ == "__main__":
    sys.exit(main())
