"""Content-addressed staging of the files a run references (modules folder, schema).

A run points at <dest>/<sha256>/..., never at the working tree: the path changes exactly when the content
does, so TFX's cache follows the code, and an earlier run's files are never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

# What belongs to a modules folder; caches and editor files do not change the hash.
_INCLUDED_SUFFIXES = (".py",)


def content_files(source: Path) -> list[Path]:
    """The files that make up `source` (a file, or a folder's .py files), in a stable order."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: nothing to stage (no such file or folder)")
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in _INCLUDED_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{source}: folder has no {', '.join(_INCLUDED_SUFFIXES)} files to stage")
    return files


def content_hash(source: Path) -> str:
    """sha256 over relative paths and bytes, so renames and edits both change it."""
    digest = hashlib.sha256()
    base = source if source.is_dir() else source.parent
    for path in content_files(source):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def stage(source: Path, dest_root: Path) -> Path:
    """Copy `source` to dest_root/<hash>/ once (atomically) and return the staged path. Idempotent."""
    sha = content_hash(source)
    target = dest_root / sha
    staged = target / source.name if source.is_file() else target
    if target.exists():
        return staged
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=dest_root))
    base = source if source.is_dir() else source.parent
    for path in content_files(source):
        out = tmp / path.relative_to(base)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
    try:
        os.rename(tmp, target)
    except OSError:
        # Another process staged the same content first; its copy is identical.
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.exists():
            raise
    return staged
