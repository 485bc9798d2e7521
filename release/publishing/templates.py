"""Publishing compiled pipeline templates: templates/<sha256>/pipeline.json, its lineage, a record per commit.

Submissions pin templates/<sha256>/pipeline.json (immutable), never a mutable name such as "latest"; the
commit record answers "which template did this commit publish" and cannot be rewritten. The lineage record
beside the template (templates/<sha256>/lineage.json: commit, dirty, modules hash, image) is what the trigger
function labels event runs of that template with; the first commit to publish a template writes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.run_request import (
    LINEAGE_FILE,
    Lineage,
    SubmissionError,
    lineage_location,
    lineage_record,
    read_lineage_record,
    template_sha256,
)
from release.publishing.store import ArtifactStore, PublishConflictError, store_for

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Full git object names only (SHA-1 or SHA-256 repositories): an abbreviation would be a second record name.
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
COMMIT_REF_PREFIX = "commit:"


class TemplateNotFoundError(SubmissionError):
    """No published template for this reference."""


@dataclass(frozen=True)
class PublishedTemplate:
    sha256: str
    # What a submission pins: templates/<sha256>/pipeline.json.
    uri: str
    commit_sha: str | None
    # From the commit record: the first publish of a commit wins, so these may be an earlier call's values.
    branch: str
    published_at: str
    # False when this commit had already published this template: nothing was written.
    created: bool


def template_object_path(sha256: str) -> str:
    """The store path of a template version."""
    return f"templates/{sha256}/pipeline.json"


def lineage_record_path(sha256: str) -> str:
    """The store path of a template version's lineage record (beside it: contracts.run_request rule)."""
    return lineage_location(template_object_path(sha256))


def commit_record_path(pipeline: str, commit_sha: str) -> str:
    """The store path of the record of what a commit published for a pipeline: a commit compiles every pipeline
    it fires, so each has its own record (templates/commits/<pipeline>/<commit_sha>.json)."""
    return f"templates/commits/{pipeline}/{commit_sha}.json"


def publish_template(
    store: ArtifactStore,
    template_path: Path,
    *,
    pipeline: str,
    commit_sha: str | None,
    branch: str,
    modules_sha256: str | None = None,
) -> PublishedTemplate:
    """Upload the template under its sha256, then its lineage record and the record for `commit_sha` and
    `pipeline` (the pipeline the template is).

    Both records are create-only. Republishing a commit with the same template for the pipeline is a no-op;
    with a different one it raises PublishConflictError. The lineage record names the first commit that published
    the template (another commit compiling to the same bytes keeps it). Without a commit (uncommitted code) only
    the template is uploaded: lineage and commit records name committed code only.
    """
    if commit_sha is not None and not _COMMIT.match(commit_sha):
        raise ValueError(f"commit_sha {commit_sha!r}: expected a full lowercase hex git commit id")
    if not branch:
        raise ValueError("branch must not be empty")
    data = template_path.read_bytes()
    try:
        spec = json.loads(data)
    except ValueError as err:
        raise ValueError(f"{template_path}: not a compiled pipeline template (invalid JSON: {err})") from None
    sha = hashlib.sha256(data).hexdigest()
    # The template first: a record never points at a template that does not exist.
    created_template = store.write_new(template_object_path(sha), data)
    if commit_sha is None:
        record = {"branch": branch, "published_at": _now()}
        created = created_template
    else:
        # Published with its commit: the template is that commit's code (the caller vouches for it).
        lineage = Lineage(commit=commit_sha, modules_sha256=modules_sha256, image=template_image(spec), dirty=False)
        _record_lineage(store, sha, lineage)
        record, created = _record_commit(store, sha, pipeline, commit_sha, branch)
    return PublishedTemplate(
        sha256=sha,
        uri=store.uri(template_object_path(sha)),
        commit_sha=commit_sha,
        branch=record["branch"],
        published_at=record["published_at"],
        created=created,
    )


def template_image(spec: Any) -> str | None:
    """The pipeline image the template's containers run, if they all run one (the compile's default image)."""
    if not isinstance(spec, dict):
        return None
    pipeline = spec.get("pipelineSpec", spec)
    executors = pipeline.get("deploymentSpec", {}).get("executors", {}) if isinstance(pipeline, dict) else {}
    images = {
        executor["container"]["image"]
        for executor in executors.values()
        if isinstance(executor, dict)
        and isinstance(executor.get("container"), dict)
        and isinstance(executor["container"].get("image"), str)
    }
    return images.pop() if len(images) == 1 else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _record_lineage(store: ArtifactStore, sha: str, lineage: Lineage) -> None:
    """Write the template's lineage record unless one exists: the first commit that published it wins."""
    path = lineage_record_path(sha)
    if store.exists(path):
        return
    # A concurrent publish of the same template may write its record first; then that one stays.
    with contextlib.suppress(PublishConflictError):
        store.write_new(path, lineage_record(lineage, _now()))


def template_lineage(uri: str) -> Lineage:
    """What the lineage record beside a published template says (commit, modules, image), with its sha256;
    only the sha256 (if any) for a template without one (published from uncommitted code, or not published).

    ValueError naming the record if it is malformed.
    """
    folder = uri.rpartition("/")[0]
    if not folder:
        return Lineage(template_sha256=template_sha256(uri))
    store = store_for(folder)
    try:
        data = store.read(LINEAGE_FILE)
    except FileNotFoundError:
        return Lineage(template_sha256=template_sha256(uri))
    return read_lineage_record(data, store.uri(LINEAGE_FILE), uri)


def resolve_template(store: ArtifactStore, ref: str, pipeline: str) -> str:
    """The uri of a published template, by its sha256 or by `commit:<sha>` (what that commit published for
    `pipeline`); TemplateNotFoundError otherwise."""
    if ref.startswith(COMMIT_REF_PREFIX):
        sha = _template_of_commit(store, pipeline, ref.removeprefix(COMMIT_REF_PREFIX))
    elif _SHA256.match(ref):
        sha = ref
    else:
        raise TemplateNotFoundError(
            f"template reference {ref!r}: expected a template sha256 (64 lowercase hex digits) or commit:<sha>"
        )
    path = template_object_path(sha)
    if not store.exists(path):
        raise TemplateNotFoundError(f"template {sha} is not published: {store.uri(path)} does not exist")
    return store.uri(path)


def _record_commit(
    store: ArtifactStore, sha: str, pipeline: str, commit_sha: str, branch: str
) -> tuple[dict[str, str], bool]:
    """Create the commit's record for the pipeline, or accept an existing one for the same template. Returns
    (record, created)."""
    path = commit_record_path(pipeline, commit_sha)
    existing = _read_record(store, path)
    if existing is None:
        record = {"template_sha256": sha, "branch": branch, "published_at": _now()}
        try:
            store.write_new(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
            return record, True
        except PublishConflictError:
            # A concurrent publish of this commit won (its published_at differs); judge by its template below.
            existing = _read_record(store, path)
            if existing is None:
                raise
    if existing["template_sha256"] != sha:
        raise PublishConflictError(
            f"commit {commit_sha} already published template {existing['template_sha256']} for {pipeline} "
            f"({store.uri(path)}); refusing to record a different template {sha} for it"
        )
    return existing, False


def _read_record(store: ArtifactStore, path: str) -> dict[str, str] | None:
    try:
        record: dict[str, str] = json.loads(store.read(path))
    except FileNotFoundError:
        return None
    return record


def _template_of_commit(store: ArtifactStore, pipeline: str, commit_sha: str) -> str:
    if not _COMMIT.match(commit_sha):
        raise TemplateNotFoundError(
            f"template reference commit:{commit_sha}: expected a full lowercase hex git commit id"
        )
    path = commit_record_path(pipeline, commit_sha)
    record = _read_record(store, path)
    if record is None:
        raise TemplateNotFoundError(
            f"no template published for commit {commit_sha} and pipeline {pipeline}: {store.uri(path)} does not exist"
        )
    return record["template_sha256"]
