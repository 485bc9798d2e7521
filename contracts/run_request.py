"""The submission contract shared by every backend: a run's job id, labels, lineage and PipelineJob request.

Used by the release commands (release/submit.py, release/vertex.py), the local run service and the trigger
Cloud Function, which ships this file in its deployed source: a run started by an event and one started by
CI get the same job id for the same trigger, the same lineage labels and the same PipelineJob arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.parameters import PIPELINE_PARAMETERS, SPAN_END, SPAN_START, validate_span_range

# Vertex PipelineJob ids: lowercase letters, digits and hyphens, starting with a letter, at most 128.
_JOB_ID = re.compile(r"^[a-z][a-z0-9-]{0,127}$")
# Vertex labels: keys and values of lowercase letters, digits, '_' and '-', at most 63 characters.
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9_-]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEMPLATE_SHA256 = re.compile(r"templates/([0-9a-f]{64})/")
# A hash in a label is its first 12 hex digits: unique enough to find the version, short enough to read.
_HASH_LABEL_LENGTH = 12
# The published template's lineage record lies beside it: templates/<sha256>/lineage.json.
LINEAGE_FILE = "lineage.json"
CONSOLE = "https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/{job_id}?project={project}"


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


def label_value(text: str) -> str:
    """Any text as a Vertex label value: lowercase, other characters as '-', at most 63 characters."""
    return _NOT_LABEL_CHARS.sub("-", text.lower())[:63]


def spans_label(span_start: int, span_end: int) -> str:
    """The `spans` label value: "newest" (both 0: the newest `training.window_spans` spans) or "<start>-<end>"."""
    return "newest" if span_start == 0 else f"{span_start}-{span_end}"


@dataclass(frozen=True)
class Lineage:
    """What a run executes, as far as it is known (None: unknown).

    commit          the commit the template (or the working tree) was built from
    modules_sha256  the content hash of the modules folder (pipelines.staging.content_hash)
    template_sha256 the published template, by its content address
    image           the pipeline image, by digest
    dirty           the working tree had uncommitted changes to tracked files (its code is not `commit`'s)
    """

    commit: str | None = None
    modules_sha256: str | None = None
    template_sha256: str | None = None
    image: str | None = None
    dirty: bool | None = None


@dataclass(frozen=True)
class Baseline:
    """What a run's no-regression gate compares against: the registry's champion when the run was submitted.

    version None (and uri "") means there is no champion yet: the candidate is judged on the absolute bound.
    """

    version: str | None = None
    # The champion's TFX Model artifact root (contracts.registry.baseline_uri), the Evaluator's baseline.
    uri: str = ""

    def __post_init__(self) -> None:
        if (self.version is None) != (not self.uri):
            raise ValueError(f"baseline: a version needs its uri and a uri its version, got {self!r}")

    @property
    def label(self) -> str:
        """The `baseline` label: the champion's version, or "none"."""
        return label_value(self.version) if self.version else "none"


def lineage_labels(
    lineage: Lineage,
    *,
    source: str,
    span_start: int,
    span_end: int,
    trigger: str | None = None,
    template_source: str | None = None,
    baseline: Baseline | None = None,
    drifted: tuple[str, ...] = (),
) -> dict[str, str]:
    """The labels every run carries, whoever starts it: commit, dirty, modules, template, source, spans, trigger.

    Where the submitter knows them: `template_source` (pointer, pin or explicit: contracts.current_template)
    and the `baseline` its gate compares against; a run the monitor started, the features that `drifted`
    (joined by '_', cut to a label's 63 characters). Hashes are shortened to 12 hex digits; what is unknown is
    left out rather than guessed.
    """
    labels = {
        **_lineage_labels(lineage),
        "template_source": label_value(template_source) if template_source else None,
        "baseline": baseline.label if baseline is not None else None,
        "source": label_value(source),
        "spans": spans_label(span_start, span_end),
        "trigger": label_value(trigger) if trigger else None,
        "drifted": label_value("_".join(drifted)) if drifted else None,
    }
    return {key: value for key, value in labels.items() if value}


def submission_labels(lineage: Lineage, template_source: str, baseline: Baseline) -> dict[str, str]:
    """What the submitter of a published template sets on a request once it resolved them: the template's own
    lineage (it may differ from the submitting checkout's), where the template came from, and the baseline.

    The template's commit and modules replace the checkout's only where the template's lineage knows them.
    """
    labels = {**_lineage_labels(lineage), "template_source": label_value(template_source), "baseline": baseline.label}
    return {key: value for key, value in labels.items() if value}


def _lineage_labels(lineage: Lineage) -> dict[str, str | None]:
    return {
        "commit": label_value(lineage.commit[:_HASH_LABEL_LENGTH]) if lineage.commit else None,
        "dirty": None if lineage.dirty is None else str(lineage.dirty).lower(),
        "modules": lineage.modules_sha256[:_HASH_LABEL_LENGTH] if lineage.modules_sha256 else None,
        "template": lineage.template_sha256[:_HASH_LABEL_LENGTH] if lineage.template_sha256 else None,
    }


def template_sha256(template: str | None) -> str | None:
    """The content address of a published template (a .../templates/<sha256>/... URI or the bare sha256)."""
    if not template:
        return None
    if _SHA256.match(template):
        return template
    found = _TEMPLATE_SHA256.search(template)
    return found.group(1) if found else None


def lineage_location(template: str) -> str:
    """Where a template's lineage record is: lineage.json in the template's folder (a gs:// URI or a path)."""
    folder = template.rpartition("/")[0]
    return f"{folder}/{LINEAGE_FILE}" if folder else LINEAGE_FILE


def lineage_record(lineage: Lineage, published_at: str) -> bytes:
    """The lineage record publish writes beside a template (create-only: the first publisher's stays).

    `dirty` is false for a template published with its commit (publish --commit: the template is that commit's
    code; the main job publishes a working tree with uncommitted changes without one, and so without a record).
    """
    record = {
        "commit": lineage.commit,
        "dirty": lineage.dirty,
        "modules_sha256": lineage.modules_sha256,
        "image": lineage.image,
        "published_at": published_at,
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


def read_lineage_record(data: bytes, where: str, template: str | None = None) -> Lineage:
    """A lineage record as Lineage (with the template's sha256 from its location); ValueError naming `where`."""
    try:
        record = json.loads(data)
    except ValueError as err:
        raise ValueError(f"{where}: not a lineage record (invalid JSON: {err})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a lineage record (expected a JSON object)")
    values = {}
    for key in ("commit", "modules_sha256", "image"):
        value = record.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{where}: {key} must be a non-empty string or null, got {value!r}")
        values[key] = value
    modules = values["modules_sha256"]
    if modules is not None and not _SHA256.match(modules):
        raise ValueError(f"{where}: modules_sha256 {modules!r} is not a sha256 (64 lowercase hex digits)")
    dirty = record.get("dirty")  # absent from records written before it was recorded: unknown
    if dirty is not None and not isinstance(dirty, bool):
        raise ValueError(f"{where}: dirty must be true, false or null, got {dirty!r}")
    return Lineage(
        template_sha256=template_sha256(template or where),
        commit=values["commit"],
        modules_sha256=modules,
        image=values["image"],
        dirty=dirty,
    )


def check_immutable_template(template: str) -> str:
    """`template` if it names one immutable version; SubmissionError otherwise.

    Mutable registry tags do not resolve reliably in PipelineJob (python-aiplatform #2181).
    """
    if "@" in template.rsplit("/", 1)[-1] or template.endswith(("/latest", ":latest")):
        raise SubmissionError(f"template {template!r}: pin an immutable version, not a tag")
    return template


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


def with_labels(request: RunRequest, labels: dict[str, str]) -> RunRequest:
    """`request` with `labels` added (replacing same-named ones); SubmissionError if one breaks the label rules."""
    return dataclasses.replace(request, labels={**request.labels, **labels})


def pipeline_job_arguments(
    request: RunRequest,
    *,
    pipeline_name: str,
    template: str,
    pipeline_root: str,
    project: str,
    location: str,
    environment: dict[str, Any],
) -> dict[str, Any]:
    """The keyword arguments of aiplatform.PipelineJob for one run (data only: nothing here imports aiplatform).

    The one construction of a Vertex run: release/vertex.py (CI, manual runs, the data check) and the trigger
    function's vertex backend (event runs) both pass exactly these. `environment`: the environment's parameter
    values with the run's baseline (contracts.environment_parameters.environment_parameters); the template
    declares them without defaults, so a job that leaves one out is refused, never run on another
    environment's values. `pipeline_root` is the job's own field: the template names none.
    """
    overlap = sorted(set(environment) & set(request.parameters))
    if overlap:
        raise SubmissionError(f"{', '.join(overlap)}: both a run parameter and an environment parameter")
    return {
        "display_name": pipeline_name,
        "template_path": check_immutable_template(template),
        "job_id": request.job_id,
        "pipeline_root": pipeline_root,
        # Typed: an int for num_epochs, the spans and window_spans, a float for learning_rate and the bounds.
        "parameter_values": {**environment, **request.parameters},
        "enable_caching": request.enable_caching,
        "labels": dict(request.labels),
        "project": project,
        "location": location,
    }


def console_url(job_id: str, *, project: str, region: str) -> str:
    """Where to follow a Vertex run in the Google Cloud console."""
    return CONSOLE.format(region=region, job_id=job_id, project=project)


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
