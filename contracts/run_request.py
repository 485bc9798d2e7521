"""The submission contract shared by every backend."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.parameters import PIPELINE_PARAMETERS, SPAN_END, SPAN_START, validate_span_range

# Vertex PipelineJob ids: lowercase letters, digits and hyphens, starting with a letter, at most 128.
_JOB_ID = re.compile(r"^[a-z][a-z0-9-]{0,127}$")
# Vertex labels: keys and values of lowercase letters, digits, '_' and '-', at most 63 characters.
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


class SubmissionError(Exception):
    """The request cannot be submitted (bad parameters, unknown template or modules version)."""


class BackendUnavailableError(Exception):
    """A transient failure of the backend: the caller may retry."""


def validate_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """Check every pipeline parameter by its contract; unknown names are rejected. Raises SubmissionError."""
    known = {p.name: p for p in PIPELINE_PARAMETERS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SubmissionError(f"unknown parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        checked = {name: known[name].validate(value) for name, value in values.items()}
        if SPAN_START.name in checked or SPAN_END.name in checked:
            validate_span_range(int(checked.get(SPAN_START.name, 0)), int(checked.get(SPAN_END.name, 0)))
    except ValueError as err:
        raise SubmissionError(str(err)) from err
    return checked


def job_id_for(pipeline_name: str, trigger_id: str) -> str:
    """A deterministic job id: the same trigger (e.g. a Pub/Sub message id) always maps to the same job."""
    digest = hashlib.sha256(trigger_id.encode()).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9-]+", "-", trigger_id.lower()).strip("-")[:40].strip("-")
    prefix = re.sub(r"[^a-z0-9-]+", "-", pipeline_name.lower()).strip("-")[:60]
    job_id = "-".join(part for part in (prefix, slug, digest) if part)
    return job_id if job_id[0].isalpha() else f"run-{job_id}"


@dataclass(frozen=True)
class RunRequest:
    job_id: str
    parameters: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    enable_caching: bool = True

    def __post_init__(self) -> None:
        if not _JOB_ID.match(self.job_id):
            raise SubmissionError(
                f"job_id {self.job_id!r}: use lowercase letters, digits and hyphens, start with a letter, <= 128"
            )
        for key, value in self.labels.items():
            if not key or not _LABEL.match(key) or not _LABEL.match(value):
                raise SubmissionError(f"label {key}={value!r}: lowercase letters, digits, '_' or '-', <= 63 chars")
        object.__setattr__(self, "parameters", validate_parameters(dict(self.parameters)))


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    backend: str
    # False when a run with this job id already existed: nothing new was started.
    created: bool
    # Where to follow the run: a console URL (vertex) or the run record's path (local).
    location: str


class Submitter(Protocol):
    backend: str

    def submit(self, request: RunRequest) -> SubmitResult: ...
