"""The storage seam of the check: one data area (<data location>/<dataset>/), addressed by keys relative to it.

Two implementations: local files (release/datacheck/local_store.py) and Cloud Storage (gcs_store.py). Keys
are POSIX paths such as "incoming/a.csv", "batches/<batch>/manifest.json", "span-3/<dataset>.csv". Every write
is create-only, so a step's result, once there, is never replaced and a rerun finds it; a move deletes the
source only if it is still the version the batch froze (a file rewritten meanwhile stays for the next batch).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

INCOMING, QUARANTINE, PROCESSED, BATCHES = "incoming", "quarantine", "processed", "batches"


@dataclass(frozen=True)
class Entry:
    """A landed incoming file: its name in incoming/, size, and (on GCS) the object generation listed."""

    name: str
    size: int
    generation: int | None = None


def is_landed(name: str) -> bool:
    """Producers write under a hidden or .tmp name and rename when complete; those names are not records yet."""
    return name.lower().endswith(".csv") and not name.startswith(".") and "/" not in name


class Store(Protocol):
    @property
    def where(self) -> str:
        """The data area, for messages: a folder or gs://bucket/prefix/."""

    def seed(self, shipped: Path) -> list[str]:
        """Copy the shipped span-<N> folders the area lacks, create-only (a first check must not take span-1
        from them); the names of those it wrote to. FileNotFoundError if `shipped` has none."""

    def locked(self) -> AbstractContextManager[None]:
        """One check at a time on this data area."""

    def renew(self) -> None:
        """Called between steps: keep the lock (GCS: extend the lease, fail if another check took it)."""

    def prepare(self) -> None:
        """Remove what a crashed writer left that no reader may see (local: temporary span folders)."""

    def incoming(self) -> list[Entry]:
        """The landed files of incoming/, by name."""

    def read_entry(self, entry: Entry) -> bytes | None:
        """Exactly the listed version of an incoming file; None when it changed or went since the listing."""

    def read(self, key: str) -> bytes | None:
        """The bytes at `key`, or None."""

    def keys(self, prefix: str) -> list[str]:
        """Every key below `prefix` (a folder, ending with /), sorted."""

    def write_new(self, key: str, data: bytes) -> bool:
        """Create `key` completely or not at all; False (nothing written) if it exists."""

    def move(self, name: str, target: str, sha256: str, generation: int | None) -> bool:
        """Move incoming/<name> to `target` if it is still the frozen version (sha256 locally, the generation
        on GCS); True once the target holds it (also when a crashed move already did), False if it changed."""

    def remove(self, prefix: str) -> None:
        """Delete everything below `prefix` (a batch folder that was never frozen)."""

    def write_span(self, batch: str, data: bytes) -> int:
        """Make `data` (a CSV) the next span, visible only when complete, marked with `batch`; its number.
        A batch that already has a span gets that one back."""

    def span_numbers(self) -> list[int]:
        """The spans present, ascending."""

    def span_rows(self, number: int) -> bytes | None:
        """The CSV of span <number> (tests and tools)."""


def write_json(store: Store, key: str, value: Any) -> bool:
    return store.write_new(key, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(store: Store, key: str) -> Any:
    """The JSON value at `key`, or None when there is none."""
    data = store.read(key)
    return None if data is None else json.loads(data)


def batch_folders(store: Store) -> Iterator[tuple[str, set[str]]]:
    """(batch, the file names in batches/<batch>/) for every batch folder, by batch id."""
    folders: dict[str, set[str]] = {}
    for key in store.keys(f"{BATCHES}/"):
        parts = key.split("/")
        if len(parts) == 3:
            folders.setdefault(parts[1], set()).add(parts[2])
    yield from sorted(folders.items())
