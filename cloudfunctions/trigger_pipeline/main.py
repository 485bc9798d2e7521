"""The trigger function: a Pub/Sub message (a CloudEvent) becomes one validated pipeline run.

A 2nd-gen Cloud Function, entry point `trigger_pipeline`. The message data is a TriggerMessage (see
trigger_message.py); the run is submitted through the backend named by TRIGGER_BACKEND:

    vertex    a Vertex AI PipelineJob from the published template TEMPLATE_URI
    local     a local run (localcloud.run_service): only from a checkout of the repository
    dry-run   one JSON line per submission appended to DRY_RUN_LOG (tests, load benchmarks, rehearsals)

The job id is derived from the message's idempotency_key, else from the Pub/Sub message id, so a redelivered
message (or a resent one with the same key) starts one run. A message that can never become a run is
acknowledged (a 2xx) after one structured log line naming the field, so Pub/Sub does not retry it; anything
else that fails (the backend, the dry-run log, the settings) raises, so Pub/Sub retries the message.

Imports stay light (no TensorFlow, no google-cloud-aiplatform at module level): a cold start loads this file.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import functions_framework
from trigger_message import MAX_MESSAGE_BYTES, MessageError, TriggerMessage, parse_message

BACKENDS = ("vertex", "local", "dry-run")
DEFAULT_PIPELINE_NAME = "penguins"
CONSOLE = "https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/{job_id}?project={project}"

# Vertex labels: keys and values of lowercase letters, digits, '_' and '-', at most 63 characters.
_LABEL_CHARS = re.compile(r"[^a-z0-9_-]")
_PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,59}$")
_MESSAGE_ID_MAX = 256


class SettingsError(RuntimeError):
    """The function's settings (environment variables) are missing or invalid: a deployment problem."""


# ---------------------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    """The function's settings, from environment variables (as Cloud Functions passes them)."""

    backend: str
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    dry_run_log: Path | None = None
    template_uri: str | None = None
    project: str | None = None
    region: str | None = None
    pipeline_root: str | None = None
    service_account: str | None = None
    network: str | None = None
    local_env_file: Path | None = None
    local_root: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse and check the variables the chosen backend needs; raises SettingsError naming the variable."""

        def get(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        backend = get("TRIGGER_BACKEND")
        if backend not in BACKENDS:
            got = "is not set" if backend is None else f"is {backend!r}"
            raise SettingsError(f"TRIGGER_BACKEND {got}: choose one of {', '.join(BACKENDS)}")
        pipeline_name = get("PIPELINE_NAME") or DEFAULT_PIPELINE_NAME
        if not _PIPELINE_NAME.match(pipeline_name):
            raise SettingsError(
                f"PIPELINE_NAME {pipeline_name!r}: use lowercase letters, digits and '-', start with a letter, <= 60"
            )

        def require(*names: str) -> None:
            missing = [name for name in names if get(name) is None]
            if missing:
                raise SettingsError(f"TRIGGER_BACKEND={backend} needs {', '.join(missing)}")

        if backend == "dry-run":
            require("DRY_RUN_LOG")
            return cls(backend, pipeline_name, dry_run_log=Path(str(get("DRY_RUN_LOG"))))
        if backend == "local":
            env_file, root = get("LOCAL_ENV_FILE"), get("LOCAL_ROOT")
            return cls(
                backend,
                pipeline_name,
                local_env_file=Path(env_file) if env_file else None,
                local_root=Path(root) if root else None,
            )
        require("TEMPLATE_URI", "PROJECT", "REGION", "PIPELINE_ROOT", "SERVICE_ACCOUNT")
        template, root = str(get("TEMPLATE_URI")), str(get("PIPELINE_ROOT"))
        # Only an immutable template: mutable registry tags do not resolve reliably (python-aiplatform #2181).
        if "@" in template.rsplit("/", 1)[-1] or template.endswith(("/latest", ":latest")):
            raise SettingsError(f"TEMPLATE_URI {template!r}: pin an immutable version, not a tag")
        if not root.startswith("gs://"):
            raise SettingsError(f"PIPELINE_ROOT {root!r}: expected a gs:// URI")
        if "@" not in str(get("SERVICE_ACCOUNT")):
            raise SettingsError(f"SERVICE_ACCOUNT {get('SERVICE_ACCOUNT')!r}: expected a service account email")
        return cls(
            backend,
            pipeline_name,
            template_uri=template,
            project=get("PROJECT"),
            region=get("REGION"),
            pipeline_root=root,
            service_account=get("SERVICE_ACCOUNT"),
            network=get("NETWORK"),
        )


# ---------------------------------------------------------------------------------------------------------------
# Job ids, labels, the submission


def job_id_for(pipeline_name: str, trigger_id: str) -> str:
    """A deterministic job id: the same trigger (e.g. a Pub/Sub message id) always maps to the same job.

    Restates contracts/run_request.py job_id_for, which this folder cannot import (it deploys on its own);
    the two must agree (tests/function checks they do), so `nox -s submit --trigger-id X` and a message with
    idempotency_key X name the same job.
    """
    digest = hashlib.sha256(trigger_id.encode()).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9-]+", "-", trigger_id.lower()).strip("-")[:40].strip("-")
    prefix = re.sub(r"[^a-z0-9-]+", "-", pipeline_name.lower()).strip("-")[:60]
    job_id = "-".join(part for part in (prefix, slug, digest) if part)
    return job_id if job_id[0].isalpha() else f"run-{job_id}"


def label_value(value: str) -> str:
    """Any text as a Vertex label value: lowercase, other characters as '-', at most 63 characters."""
    return _LABEL_CHARS.sub("-", value.lower())[:63]


@dataclass(frozen=True)
class Submission:
    """One validated run to submit (the function's counterpart of contracts.run_request.RunRequest)."""

    job_id: str
    parameters: dict[str, int | float]
    labels: dict[str, str]
    enable_caching: bool
    message_id: str
    message: TriggerMessage


def submission_for(message: TriggerMessage, message_id: str, pipeline_name: str) -> Submission:
    trigger = message.idempotency_key or message_id
    return Submission(
        job_id=job_id_for(pipeline_name, trigger),
        parameters=message.parameters(),
        labels={"source": message.source, "trigger": label_value(message_id), "spans": message.spans_label()},
        enable_caching=message.enable_caching,
        message_id=message_id,
        message=message,
    )


@dataclass(frozen=True)
class Result:
    job_id: str
    backend: str
    # False when a run with this job id already existed: nothing new was started.
    created: bool
    location: str


class Backend(Protocol):
    name: str

    def submit(self, submission: Submission) -> Result: ...


# ---------------------------------------------------------------------------------------------------------------
# Backends


@dataclass
class DryRunBackend:
    """Appends one JSON line per new job id to a file; a job id already in the file is not written again.

    Safe under concurrency: each call opens the file itself (O_APPEND) and holds an exclusive flock while it
    scans for the job id and appends. flock (not lockf/fcntl record locks, which are per process) excludes
    threads of one process as well as other processes (gunicorn workers) on the same file. Each process keeps
    the job ids it has read and, under the lock, reads only what was appended since (by anyone): a call costs
    the same with 10 or 100,000 lines in the log.
    """

    path: Path
    name: str = field(default="dry-run", init=False)

    def submit(self, submission: Submission) -> Result:
        entry = {
            "job_id": submission.job_id,  # First: the scan reads job ids from the lines' opening bytes.
            "submitted_at": datetime.now(timezone.utc).isoformat(),
            "parameters": submission.parameters,
            "labels": submission.labels,
            "enable_caching": submission.enable_caching,
            "message_id": submission.message_id,
            "message": submission.message.model_dump(mode="json", exclude_none=True),
        }
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            taken, at_line_start = _taken_job_ids(fd, os.fspath(self.path))
            created = submission.job_id not in taken
            if created:
                if not at_line_start:
                    line = b"\n" + line  # A torn last line (a crash mid-write) stays on a line of its own.
                _write_all(fd, line)
                taken.add(submission.job_id)
                _remember(fd, os.fspath(self.path), taken)
        finally:
            os.close(fd)  # Releases the lock.
        return Result(submission.job_id, self.name, created, str(self.path))


# The job ids each dry-run log holds, as far as this process has read it: path -> (file identity, bytes read up
# to the end of the last whole line, job ids). Read and changed only under the file's flock.
_TAKEN: dict[str, tuple[tuple[int, int], int, set[str]]] = {}
_JOB_ID_AT_LINE_START = re.compile(rb'^\{"job_id":"([a-z0-9-]+)",', re.MULTILINE)


def _taken_job_ids(fd: int, key: str) -> tuple[set[str], bool]:
    """The job ids in the file, and whether it ends at a line start; reads only what is new since last time.

    A file replaced (another inode) or truncated is read again from the start.
    """
    stat = os.fstat(fd)
    identity = (stat.st_dev, stat.st_ino)
    known = _TAKEN.get(key)
    if known is not None and known[0] == identity and known[1] <= stat.st_size:
        offset, taken = known[1], known[2]
    else:
        offset, taken = 0, set()
    new = _read_from(fd, offset)
    # A torn last line counts too (its job id may be whole), but is read again next time.
    taken.update(match.decode() for match in _JOB_ID_AT_LINE_START.findall(new))
    whole = new.rfind(b"\n") + 1
    _TAKEN[key] = (identity, offset + whole, taken)
    at_line_start = not new or new.endswith(b"\n")
    return taken, at_line_start


def _remember(fd: int, key: str, taken: set[str]) -> None:
    """After an append under the lock: the file ends with a whole line, and everything in it has been read."""
    stat = os.fstat(fd)
    _TAKEN[key] = ((stat.st_dev, stat.st_ino), stat.st_size, taken)


def _read_from(fd: int, offset: int) -> bytes:
    chunks = []
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class VertexBackend:
    """A Vertex AI PipelineJob from the published template; an existing job with the same id is success."""

    settings: Settings
    name: str = field(default="vertex", init=False)

    def submit(self, submission: Submission) -> Result:
        from google.api_core import exceptions
        from google.cloud import aiplatform

        settings = self.settings
        job = aiplatform.PipelineJob(
            display_name=settings.pipeline_name,
            template_path=settings.template_uri,
            job_id=submission.job_id,
            pipeline_root=settings.pipeline_root,
            # Typed: an int for num_epochs and the spans, a float for learning_rate (TriggerMessage.parameters).
            parameter_values=dict(submission.parameters),
            enable_caching=submission.enable_caching,
            labels=dict(submission.labels),
            project=settings.project,
            location=settings.region,
        )
        created = True
        try:
            job.submit(service_account=settings.service_account, network=settings.network)
        except exceptions.AlreadyExists:
            created = False  # This trigger already started its run: a redelivery.
        url = CONSOLE.format(region=settings.region, job_id=submission.job_id, project=settings.project)
        return Result(submission.job_id, self.name, created, url)


@dataclass
class LocalBackend:
    """A run of the local environment through localcloud.run_service (a repository checkout only)."""

    settings: Settings
    name: str = field(default="local", init=False)

    def __post_init__(self) -> None:
        modules = _import_repository()
        self._run_request, self._submission_error = modules["RunRequest"], modules["SubmissionError"]
        repo_root = modules["REPO_ROOT"]
        env_file = self.settings.local_env_file or repo_root / "envs" / "local.yaml"
        try:
            config = modules["load_environment"](env_file)
        except modules["ConfigError"] as err:
            raise SettingsError(f"LOCAL_ENV_FILE: {err}") from err
        if config.backend != "local":
            raise SettingsError(f"LOCAL_ENV_FILE {env_file}: environment '{config.name}' is not a local one")
        self._submitter = modules["LocalSubmitter"](Path(env_file), config.local_paths(self.settings.local_root))

    def submit(self, submission: Submission) -> Result:
        try:
            request = self._run_request(
                job_id=submission.job_id,
                parameters=dict(submission.parameters),
                labels=dict(submission.labels),
                enable_caching=submission.enable_caching,
            )
        except self._submission_error as err:
            # The message passed TriggerMessage but not the pipeline's contract: the two have drifted apart.
            raise MessageError("parameters", f"refused by the pipeline's contract: {err}") from err
        result = self._submitter.submit(request)
        return Result(result.job_id, self.name, result.created, result.location)


def _import_repository() -> dict[str, Any]:
    """The repository modules the local backend needs; the checkout's root is put on sys.path if need be."""
    here = Path(__file__).resolve()
    root = here.parents[2] if len(here.parents) > 2 else None
    for attempt in range(2):
        try:
            from contracts.config import REPO_ROOT, ConfigError, load_environment
            from contracts.run_request import RunRequest, SubmissionError
            from localcloud.run_service import LocalSubmitter
        except ImportError as err:
            if attempt == 0 and root is not None and (root / "pipelines" / "submission").is_dir():
                sys.path.insert(0, str(root))
                continue
            raise SettingsError(
                "TRIGGER_BACKEND=local: the local backend runs only from a checkout of the repository "
                f"(could not import it: {err})"
            ) from err
        return {
            "REPO_ROOT": REPO_ROOT,
            "ConfigError": ConfigError,
            "load_environment": load_environment,
            "RunRequest": RunRequest,
            "SubmissionError": SubmissionError,
            "LocalSubmitter": LocalSubmitter,
        }
    raise AssertionError("unreachable")  # pragma: no cover


@functools.lru_cache(maxsize=8)
def backend_for(settings: Settings) -> Backend:
    """One backend per distinct settings, reused across calls (the local one loads its environment once)."""
    if settings.backend == "dry-run":
        assert settings.dry_run_log is not None
        return DryRunBackend(settings.dry_run_log)
    if settings.backend == "vertex":
        return VertexBackend(settings)
    return LocalBackend(settings)


# ---------------------------------------------------------------------------------------------------------------
# The Pub/Sub CloudEvent


@dataclass(frozen=True)
class PubSubMessage:
    message_id: str
    data: bytes
    attributes: dict[str, str]


def decode_event(cloud_event: Any) -> PubSubMessage:
    """The Pub/Sub message in a messagePublished CloudEvent; raises MessageError if it is not one."""
    envelope = cloud_event.data
    if isinstance(envelope, (bytes, bytearray, str)):
        try:
            envelope = json.loads(envelope)
        except (ValueError, RecursionError):
            envelope = None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise MessageError("message", "the event is not a Pub/Sub message (no data.message object)")
    message_id = message.get("messageId") or message.get("message_id") or _event_id(cloud_event)
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= _MESSAGE_ID_MAX:
        raise MessageError("message.messageId", f"expected a message id of 1-{_MESSAGE_ID_MAX} characters")
    encoded = message.get("data")
    if encoded is None or encoded == "":
        raise MessageError("message.data", "the message has no data (expected a JSON object, base64-encoded)")
    if not isinstance(encoded, str):
        raise MessageError("message.data", "expected a base64 string")
    if len(encoded) > 4 * (MAX_MESSAGE_BYTES // 3 + 1):
        raise MessageError("message", f"larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError("message.data", "not valid base64") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in attributes.items()
    ):
        raise MessageError("message.attributes", "expected an object of string values")
    return PubSubMessage(message_id=message_id, data=data, attributes=attributes)


def _event_id(cloud_event: Any) -> str | None:
    try:
        value = cloud_event["id"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------------------------
# Structured logs: one JSON object per line on stdout, which Cloud Logging parses (severity, message, fields).

_LOG_LOCK = threading.Lock()


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {"severity": severity, "message": message, "function": "trigger_pipeline", **fields}
    line = json.dumps(entry, default=str) + "\n"
    with _LOG_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def _short(value: str | None, limit: int = 128) -> str | None:
    return value if value is None or len(value) <= limit else f"{value[: limit - 3]}..."


# ---------------------------------------------------------------------------------------------------------------
# The entry point


@functions_framework.cloud_event
def trigger_pipeline(cloud_event: Any) -> None:
    """Submit the run a Pub/Sub message asks for; acknowledge bad messages, raise (retry) on anything else."""
    started = time.perf_counter()
    message_id = _short(_event_id(cloud_event))
    try:
        pubsub = decode_event(cloud_event)
        message_id = pubsub.message_id
        message = parse_message(pubsub.data, pubsub.attributes)
        settings = Settings.from_env(os.environ)
        submission = submission_for(message, pubsub.message_id, settings.pipeline_name)
        result = backend_for(settings).submit(submission)
    except MessageError as err:
        # Permanent: retrying cannot help, so acknowledge. The reason names the field, never the whole payload.
        log(
            "WARNING",
            f"message refused: {err.field}: {err.reason}",
            event="refused",
            message_id=message_id,
            field=err.field,
            reason=err.reason,
        )
        return
    except Exception as err:
        # Transient or a deployment problem (backend unavailable, log not writable, settings): Pub/Sub retries.
        log(
            "ERROR",
            f"submission failed, the message will be retried: {type(err).__name__}: {err}",
            event="retry",
            message_id=message_id,
            error=type(err).__name__,
        )
        raise
    state = "submitted" if result.created else "already submitted (same job id): nothing new started"
    log(
        "INFO",
        f"pipeline run {result.job_id}: {state}",
        event="submitted",
        message_id=message_id,
        job_id=result.job_id,
        created=result.created,
        backend=result.backend,
        location=result.location,
        trigger="idempotency_key" if message.idempotency_key else "message_id",
        seconds=round(time.perf_counter() - started, 4),
    )
