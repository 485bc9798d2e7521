"""The run a message asks for, and the protocol every backend implements.

The run is a contracts.run_request.RunRequest, built by the same rules as a run submitted from CI: the job
id from the idempotency key (else the Pub/Sub message id) by `job_id_for`, and the lineage labels by
`lineage_labels`, with the lineage the backend knows (the published template's record on Vertex, the
working tree locally).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contracts.run_request import Lineage, RunRequest, SubmitResult, job_id_for, lineage_labels
from contracts.trigger_message import TriggerMessage


@dataclass(frozen=True)
class Submission:
    """One validated run to submit, with the message it came from (the dry-run log records both)."""

    request: RunRequest
    message_id: str
    message: TriggerMessage


class Backend(Protocol):
    name: str

    def lineage(self) -> Lineage:
        """What the runs this backend starts execute (commit, modules hash, template), as far as it knows."""
        ...

    def submit(self, submission: Submission) -> SubmitResult: ...


def submission_for(message: TriggerMessage, message_id: str, pipeline_name: str, lineage: Lineage) -> Submission:
    """The run for `message`: a redelivery, or another message with the same idempotency key, gets the same job id."""
    trigger = message.idempotency_key or message_id
    request = RunRequest(
        job_id=job_id_for(pipeline_name, trigger),
        parameters=message.parameters(),
        labels=lineage_labels(
            lineage,
            source=message.source,
            span_start=message.span_start,
            span_end=message.span_end,
            trigger=message_id,
            drifted=message.drifted_features,
        ),
        enable_caching=message.enable_caching,
    )
    return Submission(request=request, message_id=message_id, message=message)
