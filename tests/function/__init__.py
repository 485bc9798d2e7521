"""Tests of the trigger Cloud Function (cloudfunctions/trigger_pipeline), and what they share.

The function's folder deploys on its own, so its modules are imported as Cloud Functions does: from their
folder on sys.path (`trigger_message`, and `main` loaded by functions-framework).
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
MAIN = FUNCTION_DIR / "main.py"
TOPIC = "//pubsub.googleapis.com/projects/test-project/topics/pipeline-trigger"
EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# The article's message, and what its Cloud Scheduler job sends (the same values as strings).
ARTICLE_MESSAGE = {"num_epochs": 3, "learning_rate": 1e-2}
SCHEDULER_MESSAGE = {"num_epochs": "3", "learning_rate": "1e-2"}

if str(FUNCTION_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_DIR))


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
