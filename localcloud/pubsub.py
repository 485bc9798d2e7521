"""The event flow on one machine: post the CloudEvent Pub/Sub would post to the trigger function, served
by functions-framework on localhost, then follow the run it starts to its end.

    python -m localcloud.pubsub --num-epochs 5 --learning-rate 0.01 [--span-start 1 --span-end 1]
    python -m localcloud.pubsub --schedule weekly-retrain    # what that Cloud Scheduler job sends

The function server (TRIGGER_BACKEND=local) is started on first use and reused by later calls; its
address and pid are kept in <local root>/function/server.json and its log beside it. It serves the function's
folder with the repository root on PYTHONPATH, so `contracts` imports as the deployed archive ships it.
What became of the message is read from the function's structured log line for it: the job it started (or
found already started), or why it refused the message.
Exit status: 0 the run succeeded, 1 it failed, 2 bad input or the message was refused.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.config import (
    REPO_ROOT,
    ConfigError,
    EnvironmentConfig,
    add_pipeline_argument,
    environment_file,
    load_environment,
    load_pipeline_environment,
)
from contracts.run_request import job_id_for

FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
TOPIC = "//pubsub.googleapis.com/projects/local/topics/pipeline-trigger"
EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# How long to wait for the function's log line about a message, and for the run record it creates.
OUTCOME_TIMEOUT_S = 10.0


def pubsub_cloudevent(payload: dict | str | bytes, message_id: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of the binary-mode CloudEvent that Pub/Sub (via Eventarc) posts for one message."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    published = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    body = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "publishTime": published,
            "attributes": {},
        },
        "subscription": "projects/local/subscriptions/pipeline-trigger",
    }
    headers = {
        "ce-id": message_id,
        "ce-source": TOPIC,
        "ce-type": EVENT_TYPE,
        "ce-specversion": "1.0",
        "ce-time": published,
        "content-type": "application/json",
    }
    return headers, json.dumps(body).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=1)
    except urllib.error.HTTPError:
        return True  # It answered (a GET is not a CloudEvent).
    except OSError:
        return False
    return True


def start_server(env: dict[str, str], log_path: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start functions-framework serving trigger_pipeline on 127.0.0.1; return the process and its URL."""
    port = port or _free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "functions_framework", "--target", "trigger_pipeline",
        "--source", str(FUNCTION_DIR / "main.py"), "--signature-type", "cloudevent",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, env=server_environment(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the function server did not start; see {log_path}")
        time.sleep(0.2)
    return process, url


def server_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment, `env`, and the repository root first on PYTHONPATH: the function imports
    `contracts`, which its deployed archive holds beside main.py and a checkout holds at the root."""
    merged = {**os.environ, **env}
    paths = [p for p in merged.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO_ROOT)]
    merged["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *paths])
    return merged


def _server(
    root: Path, env_file: Path, pipeline: str, pipeline_name: str, backend: dict[str, str] | None = None
) -> str:
    """The URL of this root's function server of `pipeline` (one per pipeline, as each has its own trigger),
    starting one if none is alive; `backend` overrides the local backend's settings of a server it starts
    (tests: {"TRIGGER_BACKEND": "dry-run", "DRY_RUN_LOG": ...})."""
    state = root / "function" / pipeline / "server.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    if state.exists():
        known = json.loads(state.read_text())
        if _alive(known["pid"]) and _answers(known["url"]):
            return str(known["url"])
    env = {
        "TRIGGER_BACKEND": "local",
        "PIPELINE_NAME": pipeline_name,
        "PIPELINE": pipeline,
        "LOCAL_ENV_FILE": str(env_file),
        "LOCAL_ROOT": str(root),
        "TF_USE_LEGACY_KERAS": "1",
        **(backend or {}),
    }
    process, url = start_server(env, state.parent / "server.log")
    state.write_text(json.dumps({"pid": process.pid, "url": url}))
    return url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop_server(root: Path) -> bool:
    """Stop every function server of this root (one per pipeline); whether one was running."""
    stopped = False
    for state in sorted((root / "function").glob("*/server.json")):
        pid = json.loads(state.read_text())["pid"]
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
        state.unlink()
        stopped = True
    return stopped


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def function_outcome(log_path: Path, offset: int, message_id: str) -> dict[str, Any] | None:
    """The function's log line about `message_id` written after `offset` (submitted, refused or retry), if any.

    The function writes it before it answers, so it is there when the post returns; a slow disk gets a moment.
    """
    deadline = time.monotonic() + OUTCOME_TIMEOUT_S
    while True:
        for entry in _log_entries(log_path, offset):
            if entry.get("message_id") == message_id and entry.get("event") in ("submitted", "refused", "retry"):
                return entry
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _log_entries(log_path: Path, offset: int) -> list[dict[str, Any]]:
    """The function's structured lines in the server log after `offset` (the server's own lines are skipped)."""
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("function") == "trigger_pipeline":
            entries.append(entry)
    return entries


def expected_job_id(pipeline_name: str, payload: dict[str, Any], message_id: str) -> str:
    """The job the function starts for this payload: named by its idempotency_key, else by the message id."""
    key = payload.get("idempotency_key")
    return job_id_for(pipeline_name, key if isinstance(key, str) and key else message_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud.pubsub", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--num-epochs", help="sent as given: the function validates it")
    parser.add_argument("--learning-rate")
    parser.add_argument("--schedule", help="send the payload of this schedule of the environment instead")
    parser.add_argument("--span-start", type=int)
    parser.add_argument("--span-end", type=int)
    parser.add_argument("--message-id", help="Pub/Sub message id (default: random); resend one to see dedup")
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--stop", action="store_true", help="stop this root's function server and exit")
    args = parser.parse_args(argv)
    try:
        config = load_environment(args.env) if args.stop else load_pipeline_environment(args.env, args.pipeline)
        if config.backend != "local":
            raise ConfigError(f"environment '{config.name}' is not local; publish to its Pub/Sub topic instead")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = config.local_paths(args.local_root).root
    if args.stop:
        print("function server stopped" if stop_server(root) else "no function server was running")
        return 0
    schedules = {s.name: s for s in config.schedules}
    if args.schedule:
        if args.schedule not in schedules:
            print(f"error: no schedule {args.schedule!r} in {args.env} (has: {', '.join(schedules)})", file=sys.stderr)
            return 2
        payload: dict[str, Any] = dict(schedules[args.schedule].payload)
    elif args.num_epochs is None or args.learning_rate is None:
        print("error: give --num-epochs and --learning-rate, or --schedule NAME", file=sys.stderr)
        return 2
    else:
        payload = {"num_epochs": args.num_epochs, "learning_rate": args.learning_rate}
    if args.span_start is not None or args.span_end is not None:
        payload.update(span_start=args.span_start or 0, span_end=args.span_end or 0)
    # The message names its pipeline, as every publisher's should (the function runs only its own).
    payload["pipeline"] = config.selected
    message_id = args.message_id or uuid.uuid4().hex
    return _send(root, environment_file(args.env).resolve(), config, payload, message_id)


def deliver(
    root: Path,
    env_file: Path,
    config: EnvironmentConfig,
    payload: dict[str, Any],
    message_id: str,
    backend: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any] | None, Path]:
    """Post the message to the pipeline's local function as Pub/Sub would: the HTTP status, the function's log
    line about it (submitted, refused, retry; None if it wrote none) and the server's log."""
    url = _server(root, env_file, config.dataset, config.pipeline_name, backend)
    log_path = root / "function" / config.dataset / "server.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    headers, body = pubsub_cloudevent(payload, message_id)
    status = post(url, headers, body)
    print(f"posted message {message_id} to {url}: HTTP {status}", flush=True)
    return status, function_outcome(log_path, offset, message_id), log_path


def _send(root: Path, env_file: Path, config: EnvironmentConfig, payload: dict[str, Any], message_id: str) -> int:
    """Post the message, say what the function did with it, and follow the run it started."""
    pipeline_name = config.pipeline_name
    status, outcome, log_path = deliver(root, env_file, config, payload, message_id)
    if outcome is not None and outcome["event"] == "refused":
        print(f"error: the function refused the message: {outcome['field']}: {outcome['reason']}", file=sys.stderr)
        return 2
    if status >= 300 or (outcome is not None and outcome["event"] == "retry"):
        reason = outcome["message"] if outcome is not None else f"HTTP {status}"
        print(f"error: the function failed ({reason}); see {log_path}", file=sys.stderr)
        return 2
    job_id = outcome["job_id"] if outcome is not None else expected_job_id(pipeline_name, payload, message_id)
    if outcome is not None:
        print(f"pipeline run {job_id}: {'submitted' if outcome['created'] else 'already submitted (same job id)'}")
    return _follow(root, job_id, log_path)


def _follow(root: Path, job_id: str, log_path: Path) -> int:
    from localcloud.run_store import record_path
    from localcloud.runs_cli import follow

    deadline = time.monotonic() + OUTCOME_TIMEOUT_S
    while time.monotonic() < deadline:
        if record_path(root, job_id).exists():
            return follow(root, job_id)
        time.sleep(0.2)
    print(f"error: no run {job_id} was started; see the function log: {log_path}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
