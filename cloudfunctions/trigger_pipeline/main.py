"""The trigger function: a Pub/Sub message (a CloudEvent) becomes one validated pipeline run.

A 2nd-gen Cloud Function, entry point `trigger_pipeline`. The message data is a TriggerMessage
(contracts/trigger_message.py); the run is submitted through the backend named by TRIGGER_BACKEND
(settings.py):

    vertex    a Vertex AI PipelineJob of the environment's current template (its pointer, or a pinned
              TEMPLATE_URI), its values and its champion as the baseline (vertex.py)
    local     a local run (localcloud.run_service): only from a checkout of the repository (local.py)
    dry-run   one JSON line per submission appended to DRY_RUN_LOG (dry_run.py)

The function runs one pipeline (PIPELINE, set by infra): a message naming another in its `pipeline` field is
refused, one naming none is for this one. The job id is derived from the message's idempotency_key, else from
the Pub/Sub message id, so a redelivered message (or a resent one with the same key) starts one run
(submission.py). A message that can never become a run is acknowledged (a 2xx) after one structured log line
naming the field, so Pub/Sub does not retry it; anything else that fails (the backend, the dry-run log, the
settings) raises, so Pub/Sub retries the message.

The contracts come from the `contracts` package, shipped in the deployed source beside these files
(infra/function_source.py). Imports stay light (no TensorFlow, no google-cloud-aiplatform or -storage at
module level): a cold start loads this file.
"""

from __future__ import annotations

import os
import time
from typing import Any

import functions_framework
from backends import backend_for
from events import decode_event, event_id
from logs import log, short
from settings import Settings
from submission import submission_for

from contracts.trigger_message import MessageError, parse_message


@functions_framework.cloud_event
def trigger_pipeline(cloud_event: Any) -> None:
    """Submit the run a Pub/Sub message asks for; acknowledge bad messages, raise (retry) on anything else."""
    started = time.perf_counter()
    message_id = short(event_id(cloud_event))
    try:
        pubsub = decode_event(cloud_event)
        message_id = pubsub.message_id
        message = parse_message(pubsub.data, pubsub.attributes)
        settings = Settings.from_env(os.environ)
        # A message naming another pipeline is not this function's to run (MessageError: acknowledged, logged).
        message = message.for_pipeline(settings.pipeline)
        backend = backend_for(settings)
        submission = submission_for(message, pubsub.message_id, settings.pipeline_name, backend.lineage())
        result = backend.submit(submission)
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
