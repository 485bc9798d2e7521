"""Freezing a batch: the manifest of exactly the incoming files it takes (name, size, sha256, generation on GCS,
records).

The batch id is a hash of the manifest's files, so the same files always make the same batch (and the same
training job id), and a file that arrives, or changes, after the freeze belongs to the next batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from release.datacheck.store import BATCHES, Store, batch_folders, read_json


@dataclass(frozen=True)
class Source:
    name: str
    size: int
    sha256: str
    data: bytes
    generation: int | None = None  # the GCS object generation read; None for local files


def read_sources(store: Store) -> list[Source]:
    """The landed files in incoming/, each read once: its manifest entry is what was validated. A file replaced
    between listing and reading is left for the next check (its listed generation is gone)."""
    sources = []
    for entry in store.incoming():
        data = store.read_entry(entry)
        if data is not None:
            sources.append(Source(entry.name, len(data), hashlib.sha256(data).hexdigest(), data, entry.generation))
    return sources


def batch_id(sources: list[Source]) -> str:
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.name):
        digest.update(f"{source.name}\0{source.sha256}\n".encode())
    return f"b-{digest.hexdigest()[:16]}"


def manifest(sources: list[Source], counts: dict[str, tuple[int, int]], frozen_at: str) -> dict[str, Any]:
    """The frozen batch: files with size, sha256 and (valid, bad) record counts."""
    return {
        "batch": batch_id(sources),
        "frozen_at": frozen_at,
        "files": [
            {
                "name": s.name,
                "size": s.size,
                "sha256": s.sha256,
                "records": sum(counts[s.name]),
                "valid": counts[s.name][0],
                "bad": counts[s.name][1],
                **({} if s.generation is None else {"generation": s.generation}),
            }
            for s in sources
        ],
    }


def frozen_files(store: Store) -> dict[str, str]:
    """sha256 -> "<batch>/<name>" of every file a frozen batch took: what a redelivered file repeats."""
    taken: dict[str, str] = {}
    for batch, names in batch_folders(store):
        if "manifest.json" not in names:
            continue
        frozen = read_json(store, f"{BATCHES}/{batch}/manifest.json")
        for entry in frozen["files"]:
            taken.setdefault(entry["sha256"], f"{frozen['batch']}/{entry['name']}")
    return taken
