"""Content addresses of model and data folders: sha256 over the sorted relative names and bytes of every file.

Through TFX's fileio, so the same function hashes a local folder and a gs:// prefix (on Vertex).
"""

from __future__ import annotations

import hashlib

_CHUNK = 1 << 20


def _files(root: str) -> list[str]:
    from tfx.dsl.io import fileio

    root = root.rstrip("/")
    found = []
    for folder, _, names in fileio.walk(root):
        folder = folder.decode() if isinstance(folder, bytes) else folder
        for name in names:
            name = name.decode() if isinstance(name, bytes) else name
            found.append(f"{folder.rstrip('/')}/{name}"[len(root) + 1 :])
    return sorted(found)


def tree_sha256(root: str) -> str:
    """One digest for the folder: equal iff the same relative paths hold the same bytes."""
    from tfx.dsl.io import fileio

    files = _files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no files to hash")
    digest = hashlib.sha256()
    for rel in files:
        file_digest = hashlib.sha256()
        with fileio.open(f"{root.rstrip('/')}/{rel}", "rb") as handle:
            while chunk := handle.read(_CHUNK):
                file_digest.update(chunk)
        digest.update(rel.encode() + b"\0" + file_digest.digest())
    return digest.hexdigest()
