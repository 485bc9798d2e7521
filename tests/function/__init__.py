"""Tests of the trigger Cloud Function (cloudfunctions/trigger_pipeline) on its own runtime, and what they share.

`nox -s function_tests` runs them on Python 3.12 with exactly the function's locked requirements (plus the
test tools), the repository root on the path for `contracts` as the deployed archive ships it. The function's
modules are imported as Cloud Functions does, from their folder on sys.path (conftest.py puts it there), and
`main` is loaded by functions-framework. Nothing here imports TensorFlow, TFX, pipelines/ or localcloud/: the
local backend's tests, which need them, are tests/unit/test_function_local_backend.py.

This module holds plain helpers (the events Pub/Sub posts, the logs the function writes); fixtures are in
conftest.py.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.config import load_environment
from contracts.environment_parameters import environment_values

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
MAIN = FUNCTION_DIR / "main.py"
TOPIC = "//pubsub.googleapis.com/projects/test-project/topics/pipeline-trigger"
EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# The article's message, and what its Cloud Scheduler job sends (the same values as strings).
ARTICLE_MESSAGE = {"num_epochs": 3, "learning_rate": 1e-2}
SCHEDULER_MESSAGE = {"num_epochs": "3", "learning_rate": "1e-2"}
GOLDEN_TEMPLATE = REPO_ROOT / "tests" / "golden" / "penguins" / "vertex_pipeline.json"
# What infra sets for dev (infra/parts/trigger.py: function_environment), but TEMPLATE_URI or ARTIFACTS_URI.
VERTEX_ENV = {
    "TRIGGER_BACKEND": "vertex",
    "PROJECT": "my-dev-project",
    "REGION": "europe-west4",
    "PIPELINE_ROOT": "gs://penguins-dev-pipeline-root/penguins-dev",
    "SERVICE_ACCOUNT": "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com",
    "PIPELINE_NAME": "penguins-dev",
    "ENVIRONMENT_PARAMETERS": json.dumps(environment_values(load_environment("dev", "penguins")), sort_keys=True),
}
# dev's registry model, whose champion is a run's baseline (GetModel <model>@champion).
MODEL = "projects/my-dev-project/locations/europe-west4/models/penguins-dev-penguins-model"
# What `nox -s publish` records beside a template published from a commit (release/publishing/templates.py).
LINEAGE = {
    "commit": "c0ffee" + "0" * 34,
    "modules_sha256": "8502dcf44e3d" + "1" * 52,
    "image": "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "2" * 64,
    "published_at": "2026-11-22T04:57:31+00:00",
}
# Every variable the function reads: a test starts from none of them set.
FUNCTION_ENV = (
    "TRIGGER_BACKEND", "DRY_RUN_LOG", "PIPELINE_NAME", "TEMPLATE_URI", "PROJECT", "REGION", "PIPELINE_ROOT",
    "SERVICE_ACCOUNT", "NETWORK", "LOCAL_ENV_FILE", "LOCAL_ROOT", "ENVIRONMENT_PARAMETERS", "ARTIFACTS_URI",
    "PIPELINE", "GOOGLE_APIS_BASE_URL",
)  # fmt: skip


def pubsub_envelope(
    payload: Any, message_id: str, attributes: dict[str, str] | None = None, *, raw: bool = False
) -> dict[str, Any]:
    """The body Pub/Sub pushes (data.message.data is base64). `raw`: payload is sent as given (bytes or str)."""
    data = json.dumps(payload).encode() if not raw else payload if isinstance(payload, bytes) else str(payload).encode()
    published = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "attributes": attributes or {},
        },
        "subscription": "projects/test-project/subscriptions/pipeline-trigger",
    }


def binary_event(envelope: Any, event_id: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent (what Eventarc posts): attributes in ce-* headers."""
    headers = {
        "ce-id": event_id,
        "ce-source": TOPIC,
        "ce-type": EVENT_TYPE,
        "ce-specversion": "1.0",
        "ce-time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    return headers, json.dumps(envelope).encode()


def structured_event(envelope: Any, event_id: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of a structured-mode CloudEvent: the whole event as one JSON document."""
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": TOPIC,
        "type": EVENT_TYPE,
        "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": envelope,
    }
    return {"content-type": "application/cloudevents+json"}, json.dumps(event).encode()


EVENT_MODES = {"binary": binary_event, "structured": structured_event}


def post(client, payload, message_id, mode="binary", attributes=None, raw=False, envelope=None):
    """Deliver one message to the function through a Flask test client, as Eventarc would."""
    envelope = pubsub_envelope(payload, message_id, attributes, raw=raw) if envelope is None else envelope
    headers, body = EVENT_MODES[mode](envelope, message_id)
    return client.post("/", headers=headers, data=body)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The dry-run log's submissions, one per line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def log_lines(text: str) -> list[dict[str, Any]]:
    """The structured (JSON) log lines of the function in captured stdout."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("function") == "trigger_pipeline":
            entries.append(entry)
    return entries
