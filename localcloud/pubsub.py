"""The event flow on one machine: post the CloudEvent Pub/Sub would post to the trigger function, served
by functions-framework on localhost, then follow the run it starts to its end.

    python -m localcloud.pubsub --num-epochs 5 --learning-rate 0.01 [--span-start 1 --span-end 1]
    python -m localcloud.pubsub --schedule weekly-retrain    # what that Cloud Scheduler job sends

The function server (TRIGGER_BACKEND=local) is started on first use and reused by later calls; its
address and pid are kept in <local root>/function/server.json and its log beside it.
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

from contracts.config import REPO_ROOT, ConfigError, load_environment
from contracts.config import environment_file

FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
TOPIC = "//pubsub.googleapis.com/projects/local/topics/pipeline-trigger"
EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


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
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the function server did not start; see {log_path}")
        time.sleep(0.2)
    return process, url


def _server(root: Path, env_file: Path, pipeline_name: str) -> str:
    """The URL of this root's function server, starting one if none is alive."""
    state = root / "function" / "server.json"
    if state.exists():
        known = json.loads(state.read_text())
        if _alive(known["pid"]) and _answers(known["url"]):
            return str(known["url"])
    env = {
        "TRIGGER_BACKEND": "local",
        "PIPELINE_NAME": pipeline_name,
        "LOCAL_ENV_FILE": str(env_file),
        "LOCAL_ROOT": str(root),
        "PYTHONPATH": str(REPO_ROOT),
        "TF_USE_LEGACY_KERAS": "1",
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
    state = root / "function" / "server.json"
    if not state.exists():
        return False
    pid = json.loads(state.read_text())["pid"]
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)
    state.unlink()
    return True


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcloud.pubsub", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
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
        config = load_environment(args.env)
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
        payload: dict[str, object] = dict(schedules[args.schedule].payload)
    elif args.num_epochs is None or args.learning_rate is None:
        print("error: give --num-epochs and --learning-rate, or --schedule NAME", file=sys.stderr)
        return 2
    else:
        payload = {"num_epochs": args.num_epochs, "learning_rate": args.learning_rate}
    if args.span_start is not None or args.span_end is not None:
        payload.update(span_start=args.span_start or 0, span_end=args.span_end or 0)
    message_id = args.message_id or uuid.uuid4().hex
    url = _server(root, environment_file(args.env).resolve(), config.pipeline_name)
    headers, body = pubsub_cloudevent(payload, message_id)
    status = post(url, headers, body)
    print(f"posted message {message_id} to {url}: HTTP {status}", flush=True)
    if status >= 300:
        print(f"error: the function failed (HTTP {status}); see {root / 'function' / 'server.log'}", file=sys.stderr)
        return 2
    from localcloud.runs_cli import follow
    from contracts.run_request import job_id_for
    from localcloud.run_store import record_path

    # The function derives the job id from the message id with the same rule (no idempotency key here).
    job_id = job_id_for(config.pipeline_name, message_id)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if record_path(root, job_id).exists():
            return follow(root, job_id)
        time.sleep(0.2)
    print("error: the message was refused (no run started); see the function log", file=sys.stderr)
    print(f"  {root / 'function' / 'server.log'}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
