"""Scratch copies of the repository, one per build, as Cloud Build checks out the triggering commit.

A copy is the repository at HEAD (a shared clone: no objects copied) plus the working tree's uncommitted
changes, so a rehearsal of work in progress runs that work; the output says when the tree was dirty. The
built environments are linked in (.nox, and the host tools under .ci), so nothing is installed again: a
Cloud Build worker would install them from the same lock files.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@dataclass
class Repository:
    root: Path
    head: str = ""
    branch: str = ""
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, root: Path) -> Repository:
        root = root.resolve()
        head = _git(root, "rev-parse", "HEAD").strip()
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        changed, deleted = [], []
        for entry in _git(root, "status", "--porcelain", "-z", "--untracked-files=all").split("\0"):
            if not entry:
                continue
            state, path = entry[:2], entry[3:]
            if "D" in state:
                deleted.append(path)
            elif (root / path).is_file() and not (root / path).is_symlink():
                changed.append(path)
        return cls(root, head, branch, sorted(changed), sorted(deleted))

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.deleted)

    def read(self, path: str) -> bytes:
        """A file as a build's checkout has it (the working tree's version)."""
        return (self.root / path).read_bytes()

    def checkout(self, destination: Path) -> Path:
        """A fresh copy at `destination`: HEAD, the working tree's changes, and the built environments linked."""
        if destination.exists():
            shutil.rmtree(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--quiet", "--shared", "--no-checkout", str(self.root), str(destination)], check=True
        )
        _git(destination, "checkout", "--quiet", "--detach", self.head)
        for path in self.changed:
            target = destination / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.root / path, target)
        for path in self.deleted:
            (destination / path).unlink(missing_ok=True)
        self._link_environments(destination)
        return destination

    def _link_environments(self, destination: Path) -> None:
        nox = self.root / ".nox"
        if nox.exists():
            (destination / ".nox").symlink_to(nox.resolve())
        tools = sorted((self.root / ".ci").glob(".venv-*"))
        if tools:
            (destination / ".ci").mkdir(exist_ok=True)
            for venv in tools:
                (destination / ".ci" / venv.name).symlink_to(venv.resolve())
