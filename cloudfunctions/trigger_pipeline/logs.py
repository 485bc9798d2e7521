"""Structured logs: one JSON object per line on stdout, which Cloud Logging parses (severity, message, fields).

`nox -s trigger` (localcloud/pubsub.py) reads the same lines from the local server's log to say what became
of the message it posted.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

FUNCTION = "trigger_pipeline"
# One line per write, whole: gunicorn's threads share stdout.
_LOG_LOCK = threading.Lock()


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {"severity": severity, "message": message, "function": FUNCTION, **fields}
    line = json.dumps(entry, default=str) + "\n"
    with _LOG_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def short(value: str | None, limit: int = 128) -> str | None:
    """A value from the input shortened for a log line (a message id before it has been checked)."""
    return value if value is None or len(value) <= limit else f"{value[: limit - 3]}..."
