"""Crash-safe file operations of the check: a file appears complete or not at all, and create-only.

A writer writes a hidden temporary name in the same folder, fsyncs it, then links or renames it into place and
fsyncs the folder, so a SIGKILL at any moment leaves either nothing or the whole file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> bool:
    """Create `path` holding `data`, completely or not at all; False (and nothing written) if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            # link, not rename: it fails when the name is taken, so a file written once is never replaced.
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        os.unlink(tmp)


def write_json(path: Path, value: Any) -> bool:
    return write_new(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    """The JSON value at `path`, or None when there is no file."""
    return json.loads(path.read_text()) if path.is_file() else None


def move(source: Path, target: Path) -> None:
    """Move `source` to `target` (same file system); done already when only the target exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.exists():
        os.replace(source, target)
        fsync_dir(target.parent)
        fsync_dir(source.parent)
    elif not target.exists():
        raise FileNotFoundError(f"{source}: gone, and not at {target} either")
