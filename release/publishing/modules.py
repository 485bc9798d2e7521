"""Publishing the modules folder: modules/<sha256>/..., complete only once its MANIFEST.json exists.

The version is `pipelines.staging.content_hash` of the folder, the same hash local staging uses, so one
modules folder has one name everywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from contracts.run_request import SubmissionError
from pipelines.staging import content_files, content_hash
from release.publishing.store import ArtifactStore

MANIFEST = "MANIFEST.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModulesNotFoundError(SubmissionError):
    """No complete published modules version with this sha256."""


@dataclass(frozen=True)
class PublishedModules:
    sha256: str
    # The folder a run references: its files are at <uri>/<relative path>.
    uri: str
    # Relative '/'-separated paths of the files, in manifest order.
    files: tuple[str, ...]
    # False when this version was already completely published: nothing was written.
    created: bool


def folder_path(sha256: str) -> str:
    """The store path of a modules version's folder."""
    return f"modules/{sha256}"


def publish_modules(store: ArtifactStore, modules_dir: Path) -> PublishedModules:
    """Upload every file of `modules_dir`, then its manifest. Idempotent; completes an interrupted upload."""
    sha, contents = _snapshot(modules_dir)
    folder = folder_path(sha)
    for rel, data in contents.items():
        store.write_new(f"{folder}/{rel}", data)
    # Last: the manifest is what makes the version exist, so readers never see a partial folder as published.
    created = store.write_new(f"{folder}/{MANIFEST}", _manifest(sha, contents))
    return PublishedModules(sha256=sha, uri=store.uri(folder), files=tuple(contents), created=created)


def resolve_modules(store: ArtifactStore, sha256: str) -> str:
    """The uri of a published modules version's folder; ModulesNotFoundError if it is not (completely) there."""
    if not _SHA256.match(sha256):
        raise ModulesNotFoundError(f"modules version {sha256!r} is not a sha256 (64 lowercase hex digits)")
    folder = folder_path(sha256)
    manifest_path = f"{folder}/{MANIFEST}"
    try:
        manifest = json.loads(store.read(manifest_path))
    except FileNotFoundError:
        raise ModulesNotFoundError(_not_published(store, sha256)) from None
    missing = [f["path"] for f in manifest["files"] if not store.exists(f"{folder}/{f['path']}")]
    if missing:
        raise ModulesNotFoundError(
            f"modules version {sha256} at {store.uri(folder)} is incomplete: its manifest lists "
            f"{', '.join(missing)}, which do not exist"
        )
    return store.uri(folder)


def _snapshot(modules_dir: Path) -> tuple[str, dict[str, bytes]]:
    """The version hash and the bytes of each file, read once so what is uploaded is what was hashed."""
    if not modules_dir.is_dir():
        raise NotADirectoryError(f"{modules_dir}: not a modules folder")
    before = content_hash(modules_dir)
    contents = {p.relative_to(modules_dir).as_posix(): p.read_bytes() for p in content_files(modules_dir)}
    # content_hash reads the files itself; an edit while we read would publish bytes under the wrong name.
    if content_hash(modules_dir) != before:
        raise RuntimeError(f"{modules_dir} changed while it was being published; publish again")
    return before, contents


def _manifest(sha256: str, contents: dict[str, bytes]) -> bytes:
    """Deterministic bytes (no timestamps), so republishing the same version writes the identical manifest."""
    files = [
        {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for rel, data in contents.items()
    ]
    return (json.dumps({"sha256": sha256, "files": files}, indent=2, sort_keys=True) + "\n").encode()


def _not_published(store: ArtifactStore, sha256: str) -> str:
    """Why a version does not resolve: never published, or an upload that stopped before its manifest."""
    folder = folder_path(sha256)
    where = store.uri(f"{folder}/{MANIFEST}")
    partial = store.list(f"{folder}/")
    if partial:
        return (
            f"modules version {sha256} is not published: {where} does not exist ({len(partial)} file(s) without "
            "a manifest: an interrupted upload; publish the modules again to complete it)"
        )
    return f"modules version {sha256} is not published: {where} does not exist"
