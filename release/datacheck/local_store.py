"""The data area in a local folder: create-only links, renames and a flock.

A move takes the incoming file by renaming it to a private name first, and only then checks that it holds the
frozen content (hashing and then renaming the public name would move whatever a producer landed in between,
unvalidated). From that rename on, a producer landing a new file under the same name touches nothing of ours;
what we took but was not the frozen content goes back to incoming/ for the next batch.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contracts.data_layout import span_file, span_folder
from release.datacheck import files, spans
from release.datacheck.store import INCOMING, Entry, is_landed

# The private name of an incoming file a move has taken (hidden: never listed as landed, never frozen).
TAKEN_PREFIX = ".taken-"


@dataclass
class LocalStore:
    root: Path  # <local root>/data/<dataset>

    @property
    def where(self) -> str:
        return str(self.root)

    def seed(self, shipped: Path) -> list[str]:
        from pipelines.local_data import seed_spans

        return seed_spans(shipped, self.root)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """A second check waits, then finds the batch already done."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".datacheck.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # Released by the kernel when the process dies, even by SIGKILL.
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def renew(self) -> None:
        """The flock lasts as long as the process: nothing to renew."""

    def prepare(self) -> None:
        spans.remove_partial(self.root)
        self._restore_taken()

    def _restore_taken(self) -> None:
        """Files a move took and a crash left under their private name go back to incoming/: the batch that
        froze them takes them again, and anything else is a new arrival (or a redelivery) for the next one."""
        folder = self.root / INCOMING
        if folder.is_dir():
            for taken in sorted(folder.glob(f"{TAKEN_PREFIX}*")):
                _put_back(taken, taken.name.removeprefix(TAKEN_PREFIX))

    def incoming(self) -> list[Entry]:
        folder = self.root / INCOMING
        if not folder.is_dir():
            return []
        landed = sorted(p for p in folder.iterdir() if p.is_file() and is_landed(p.name))
        return [Entry(p.name, p.stat().st_size) for p in landed]

    def read_entry(self, entry: Entry) -> bytes | None:
        return self.read(f"{INCOMING}/{entry.name}")

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        found = (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(p.relative_to(self.root).as_posix() for p in found)

    def write_new(self, key: str, data: bytes) -> bool:
        return files.write_new(self.root / key, data)

    def move(self, name: str, target: str, sha256: str, generation: int | None) -> bool:
        incoming, dest = self.root / INCOMING, self.root / target
        taken = incoming / f"{TAKEN_PREFIX}{name}"
        try:
            # Atomic: exactly the file under `name` now is ours; a later arrival under `name` stays in incoming/.
            os.rename(incoming / name, taken)
        except FileNotFoundError:
            return dest.is_file()  # moved by a check that crashed after it, or replaced and gone: not ours
        if hashlib.sha256(taken.read_bytes()).hexdigest() != sha256:
            _put_back(taken, name)  # landed after the freeze: never validated, for the next batch
            return False
        files.move(taken, dest)
        return True

    def remove(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def write_span(self, batch: str, data: bytes) -> int:
        return spans.write_span(self.root, batch, data)

    def span_numbers(self) -> list[int]:
        return spans.span_numbers(self.root)

    def span_rows(self, number: int) -> bytes | None:
        return self.read(f"{span_folder(number)}/{span_file(self.root.name)}")


def _put_back(taken: Path, name: str) -> None:
    """Return a taken file to incoming/ under `name`, create-only; if a producer has landed a newer file there
    meanwhile, under a name made from its content instead, so neither is lost (a copy of frozen content is
    set aside later as a redelivery, by its hash)."""
    landed = Path(name)
    alternative = f"{landed.stem}.{hashlib.sha256(taken.read_bytes()).hexdigest()[:12]}{landed.suffix}"
    for candidate in (name, alternative):
        try:
            os.link(taken, taken.parent / candidate)
            break
        except FileExistsError:
            continue  # taken by a newer arrival (or, for the alternative, already back: the same bytes)
    os.unlink(taken)
    files.fsync_dir(taken.parent)
