"""The prediction log: one record per logged request, what the servers write and the monitor reads.

A record is one JSON object on one line (JSON Lines), version 1:

    {"v": 1, "time": "2026-12-05T06:30:00.123456Z", "model_version": "3",
     "instances": [{"island": "Biscoe", "bill_length_mm": 45.3, ...}],
     "predictions": [{"species": "Gentoo", "probabilities": [...]}],   # null when refused
     "error": null,             # the server's message when it refused the request as not matching the schema
     "latency_ms": 2.4, "variant": "champion"}

Locally the log is a folder per pipeline (`LocalPaths.predictions`): <root>/predictions/<pipeline>/<YYYYMMDD>/
<HH>-<pid>.jsonl, one file per hour (UTC) and writing process, appended whole lines at a time, so a reader of a
time window opens only that window's hours and no two writers share a file. A process killed mid-line leaves a
partial last line: a reader counts it as bad and skips it (`parse_record`), as it does any other bad record.

On Google Cloud the endpoint's request-response logging writes the same facts into BigQuery
(`BIGQUERY_SCHEMA`, one row per request: request_payload holds the instances, response_payload the
predictions, each a JSON string; no latency, no variant: a canary's requests are told apart by the deployed
model that answered) and `from_bigquery_row` reads a row as a record.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

VERSION = 1
VARIANTS = ("champion", "candidate", "shadow")

# The table Vertex AI's request-response logging writes (PredictRequestResponseLoggingConfig, schema v1). Vertex
# creates it on its first log (infra makes only the dataset: Google's rule for a full table reference is that the
# dataset must exist and the table must not); this is the shape the monitor reads.
BIGQUERY_SCHEMA = (
    {"name": "endpoint", "type": "STRING", "mode": "NULLABLE"},
    {"name": "deployed_model_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "logging_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "request_id", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "request_payload", "type": "STRING", "mode": "REPEATED"},
    {"name": "response_payload", "type": "STRING", "mode": "REPEATED"},
)
BIGQUERY_TIME_COLUMN = "logging_time"


class LogRecordError(ValueError):
    """A line that is not a valid record (partial, not JSON, a field missing or of the wrong type)."""


@dataclass(frozen=True)
class LoggedRequest:
    """One logged request: when, which model version answered, what it was sent and what it answered."""

    time: datetime  # UTC
    model_version: str
    instances: list[dict[str, Any]]
    predictions: list[dict[str, Any]] | None = None
    error: str | None = None  # the refusal's message: the request did not match the schema
    latency_ms: float | None = None
    variant: str = "champion"

    @property
    def refused(self) -> bool:
        return self.error is not None

    def to_line(self) -> bytes:
        body = {
            "v": VERSION,
            "time": self.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "model_version": self.model_version,
            "instances": self.instances,
            "predictions": self.predictions,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "variant": self.variant,
        }
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def parse_time(text: str) -> datetime:
    """An RFC 3339 UTC time as the log writes it (…Z), as an aware datetime."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise LogRecordError(f"time {text!r} is not an RFC 3339 UTC time (…Z)")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    except ValueError as err:
        raise LogRecordError(f"time {text!r}: {err}") from None


def _instances(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise LogRecordError(f"{what} is not a list of JSON objects")
    return value


def parse_record(line: bytes | str) -> LoggedRequest:
    """One record from one line; LogRecordError naming what is wrong."""
    try:
        body = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        raise LogRecordError(f"not JSON ({err})") from None
    if not isinstance(body, dict):
        raise LogRecordError("not a JSON object")
    if body.get("v") != VERSION:
        raise LogRecordError(f"unsupported record version {body.get('v')!r} (supported: {VERSION})")
    version = body.get("model_version")
    if not isinstance(version, str) or not version:
        raise LogRecordError("model_version is missing")
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        raise LogRecordError("error is not a string")
    predictions = body.get("predictions")
    if predictions is not None:
        predictions = _instances(predictions, "predictions")
    instances = _instances(body.get("instances"), "instances")
    if error is None and (predictions is None or len(predictions) != len(instances)):
        raise LogRecordError("an answered request needs one prediction per instance")
    latency = body.get("latency_ms")
    if latency is not None and (
        isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency)
    ):
        raise LogRecordError("latency_ms is not a number")
    variant = body.get("variant", "champion")
    if variant not in VARIANTS:
        raise LogRecordError(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
    return LoggedRequest(
        time=parse_time(body.get("time", "")),
        model_version=version,
        instances=instances,
        predictions=predictions,
        error=error,
        latency_ms=None if latency is None else float(latency),
        variant=variant,
    )


def from_bigquery_row(row: dict[str, Any], versions: dict[str, str]) -> LoggedRequest:
    """A row of the endpoint's request-response log as a record; `versions` maps the endpoint's deployed model
    ids to the registry versions they serve (a deployed model no longer there, undeployed since: its model
    version is "deployed-model-<id>", still an input of the window)."""
    deployed = row.get("deployed_model_id")
    if not isinstance(deployed, str) or not deployed:
        raise LogRecordError("deployed_model_id is missing")
    logged_at = row.get(BIGQUERY_TIME_COLUMN)
    if not isinstance(logged_at, datetime):
        raise LogRecordError(f"{BIGQUERY_TIME_COLUMN} is missing")
    try:
        instances = [json.loads(text) for text in row.get("request_payload") or []]
        predictions = [json.loads(text) for text in row.get("response_payload") or []]
    except (TypeError, ValueError) as err:
        raise LogRecordError(f"a payload is not JSON ({err})") from None
    instances = _instances(instances, "request_payload")
    predictions = _instances(predictions, "response_payload")
    if len(predictions) != len(instances):
        raise LogRecordError("response_payload does not have one prediction per instance")
    return LoggedRequest(
        time=logged_at.astimezone(timezone.utc),
        model_version=versions.get(deployed, f"deployed-model-{deployed}"),
        instances=instances,
        predictions=predictions,
    )


def hour_folder(moment: datetime) -> tuple[str, str]:
    """The local log's day folder and hour file prefix of `moment`: ("20261205", "06")."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y%m%d"), utc.strftime("%H")


def local_log_file(root: Path, moment: datetime, pid: int | None = None) -> Path:
    """The file a writing process appends `moment`'s records to: <root>/<YYYYMMDD>/<HH>-<pid>.jsonl."""
    day, hour = hour_folder(moment)
    return root / day / f"{hour}-{os.getpid() if pid is None else pid}.jsonl"


def local_log_files(root: Path, start: datetime, end: datetime) -> Iterator[Path]:
    """The local log files that may hold records of [start, end), in time order."""
    hour = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        day, prefix = hour_folder(hour)
        folder = root / day
        if folder.is_dir():
            yield from sorted(folder.glob(f"{prefix}-*.jsonl"))
        hour += timedelta(hours=1)
