"""The data area in a local folder: today's behaviour (create-only links, renames, a flock)."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from release.datacheck import files, spans
from release.datacheck.store import INCOMING, Entry, is_landed


@dataclass
class LocalStore:
    root: Path  # <local root>/data/<dataset>

    @property
    def where(self) -> str:
        return str(self.root)

    def seed(self, shipped: Path) -> None:
        from pipelines.local_data import seed_spans

        seed_spans(shipped, self.root)

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
        source, dest = self.root / INCOMING / name, self.root / target
        if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != sha256:
            return False  # the same name with other content: a new arrival, for the next batch
        if source.is_file() or dest.is_file():
            files.move(source, dest)
        return True

    def remove(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def write_span(self, batch: str, data: bytes) -> int:
        return spans.write_span(self.root, batch, data)

    def span_numbers(self) -> list[int]:
        return spans.span_numbers(self.root)

    def span_rows(self, number: int) -> bytes | None:
        return self.read(f"span-{number}/{spans.DATA_FILE}")
