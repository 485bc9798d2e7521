"""Content addresses of model and data folders: sha256 over the sorted relative names and bytes of every file.

A local folder is read as plain files; a gs:// prefix through google-cloud-storage (components/registry/gcs.py),
each object pinned to the generation its listing saw. Both give the same digest for the same files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from components.registry import gcs

_CHUNK = 1 << 20


def _digest(files: Iterable[tuple[str, Callable[[], bytes]]], where: str) -> str:
    """One digest over (relative name, sha256 of its bytes) pairs, taken in name order."""
    digest = hashlib.sha256()
    count = 0
    for rel, file_sha256 in sorted(files, key=lambda item: item[0]):
        digest.update(rel.encode() + b"\0" + file_sha256())
        count += 1
    if not count:
        raise FileNotFoundError(f"{where}: no files to hash")
    return digest.hexdigest()


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def local_sha256(root: str | Path) -> str:
    root = Path(root)
    files = [
        ((Path(folder) / name).relative_to(root).as_posix(), partial(_file_sha256, Path(folder) / name))
        for folder, _, names in os.walk(root)
        for name in names
    ]
    return _digest(files, str(root))


def _blob_sha256(blob: Any) -> bytes:
    # A download pinned to the listed generation, through a Blob of its own: a download rewrites its Blob's
    # properties from the response, and the listed one must keep what the copy pins (generation, crc32c).
    pinned = blob.bucket.blob(blob.name, generation=blob.generation)
    return hashlib.sha256(pinned.download_as_bytes()).digest()


def listed_sha256(files: list[tuple[str, Any]], where: str) -> str:
    """The digest of objects listed by `gcs.list_files`, each read at the generation its listing saw."""
    return _digest(((rel, partial(_blob_sha256, blob)) for rel, blob in files), where)


def tree_sha256(root: str, client: Any = None) -> str:
    """One digest for the folder or gs:// prefix: equal iff the same relative paths hold the same bytes."""
    if gcs.is_gcs(root):
        client = client or gcs.storage_client()
        return listed_sha256(gcs.list_files(client, root), root)
    return local_sha256(root)
