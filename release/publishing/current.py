"""The current-template pointers, read and written: templates/current/<pipeline>.json in an environment's
artifacts location.

CI's `full` and `modules` workflows (and prod's adopt) set it after their run was submitted
(`nox -s publish -- --env ENV --set-current --from <submit result>`); `submit`, the data check and the trigger
function resolve it when they run (`current_template`), unless the environment pins a template for the pipeline
(`pipelines.<name>.template_sha256`), which wins. The record's shape is contracts.current_template.

Setting it is a compare-and-set: read the record and its version (the GCS generation, 0 when absent), write
with `ifGenerationMatch` of that version; a writer that loses (412) reads again and retries. A run submitted
earlier never moves the pointer back over one submitted later, and setting it again for the same run writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from contracts.config import EnvironmentConfig, pinned_template_uri
from contracts.current_template import CurrentTemplate, ResolvedTemplate, current_key, read_current
from contracts.run_request import BackendUnavailableError, template_sha256
from release.publishing.store import ArtifactStore, StaleWriteError, Version, store_for
from release.publishing.templates import TemplateNotFoundError, template_lineage

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SetOutcome:
    """What setting the pointer did: the record it now holds, whether this call wrote it, and why (not)."""

    record: CurrentTemplate
    written: bool
    attempts: int
    reason: str


def read_pointer(store: ArtifactStore, pipeline: str) -> tuple[CurrentTemplate | None, Version]:
    """`pipeline`'s pointer in `store` (None: not set yet) and its version; ValueError naming it if malformed."""
    key = current_key(pipeline)
    data, version = store.read_versioned(key)
    if data is None:
        return None, version
    return read_current(data, store.uri(key)), version


def set_current(
    store: ArtifactStore, record: CurrentTemplate, pipeline: str, *, attempts: int = MAX_ATTEMPTS
) -> SetOutcome:
    """Point `store`'s pointer of `pipeline` at `record`'s template, unless a run submitted later already moved it.

    BackendUnavailableError if other writers keep winning for `attempts` rounds (run it again).
    """
    key = current_key(pipeline)
    for attempt in range(1, attempts + 1):
        data, version = store.read_versioned(key)
        current = _readable(store.uri(key), data)
        if current is not None and (current.job_id, current.template) == (record.job_id, record.template):
            return SetOutcome(current, False, attempt, f"already set after run {record.job_id}")
        if current is not None and current.submitted_at > record.submitted_at:
            reason = f"left at run {current.job_id}'s template: that run was submitted after {record.job_id}"
            return SetOutcome(current, False, attempt, reason)
        try:
            store.replace(key, record.to_bytes(), version=version)
        except StaleWriteError:
            continue  # another writer won between our read and our write: read what it wrote, decide again
        return SetOutcome(record, True, attempt, "set" if current is None else f"moved from {current.template}")
    raise BackendUnavailableError(
        f"{store.uri(key)} changed {attempts} times while it was being set; run the step again"
    )


def _readable(where: str, data: bytes | None) -> CurrentTemplate | None:
    """The record in `data`, or None when there is none or it is not a valid record (the writer replaces it)."""
    if data is None:
        return None
    try:
        return read_current(data, where)
    except ValueError:
        return None


def record_for(submitted: dict[str, Any], *, set_by: str | None = None) -> CurrentTemplate:
    """The pointer record for a successful submission, from release/submit.py's result file (as a dict).

    ValueError naming the key if the result is not one of a submitted run of a published template.
    """
    status = submitted.get("status")
    if status is not None and status != "succeeded":
        raise ValueError(f"the submitted run {submitted.get('job_id')} ended {status}: the pointer stays where it is")
    for key in ("job_id", "template", "source", "trigger"):
        if not isinstance(submitted.get(key), str) or not submitted[key]:
            raise ValueError(f"not a submit result: `{key}` must be a non-empty string")
    sha = template_sha256(submitted["template"])
    if sha is None or sha != submitted.get("template_sha256"):
        raise ValueError(
            f"template {submitted['template']!r} is not a published template (templates/<sha256>/pipeline.json): "
            "only a published template can become the current one"
        )
    if not isinstance(submitted.get("submitted_at"), (int, float)):
        raise ValueError("not a submit result: `submitted_at` must be a number")
    return CurrentTemplate(
        template=submitted["template"],
        template_sha256=sha,
        commit=submitted.get("commit"),
        dirty=submitted.get("dirty") if isinstance(submitted.get("dirty"), bool) else None,
        modules_sha256=submitted.get("modules_sha256"),
        image=submitted.get("image"),
        job_id=submitted["job_id"],
        set_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        set_by=set_by or f"{submitted['source']}:{submitted['trigger']}",
        submitted_at=float(submitted["submitted_at"]),
    )


def current_template(config: EnvironmentConfig) -> ResolvedTemplate:
    """The template the environment's runs of its pipeline submit now: its pin, else its pointer;
    TemplateNotFoundError if neither is set (CI sets the pointer after its first submitted run)."""
    pinned = pinned_template_uri(config)
    if pinned is not None:
        return ResolvedTemplate(pinned, "pin", template_lineage(pinned))
    store = store_for(config.location("artifacts"))
    try:
        current, _ = read_pointer(store, config.dataset)
    except ValueError as err:
        raise TemplateNotFoundError(f"the current template cannot be read: {err}") from None
    if current is None:
        raise TemplateNotFoundError(
            f"environment '{config.name}' has no current template of {config.dataset} yet: "
            f"{store.uri(current_key(config.dataset))} does not "
            "exist. CI's full workflow sets it after its first submitted run; or pin "
            f"pipelines.{config.dataset}.template_sha256, or pass --template"
        )
    return ResolvedTemplate(current.template, "pointer", current.lineage())
