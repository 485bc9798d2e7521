"""A scratch copy of this repository as a fresh git repository: for the main job's end-to-end test and benchmark.

Standard library only. The copy holds the tracked and untracked (not ignored) files, so no venvs and no local
state; the caller decides whether to share this checkout's .nox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ci.changes import git


def commit(repo: Path, message: str) -> str:
    """Commit everything in `repo`; the new commit's id."""
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=scratch", "-c", "user.email=scratch@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def copy_repository(source: Path, target: Path) -> Path:
    """`target` as a new repository with one commit of `source`'s files."""
    listed = git(source, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, listed):
        if (source / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, target / rel)
    git(target, "init", "-q", "-b", "main")
    commit(target, "initial")
    return target
