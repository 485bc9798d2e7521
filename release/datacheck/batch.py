"""Freezing a batch: the manifest of exactly the incoming files it takes (name, size, sha256, records).

The batch id is a hash of the manifest's files, so the same files always make the same batch (and the same
training job id), and a file that arrives, or changes, after the freeze belongs to the next batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# Producers write under a hidden or .tmp name and rename when complete; those names are not records yet.
def is_landed(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".csv" and not path.name.startswith(".")


@dataclass(frozen=True)
class Source:
    name: str
    size: int
    sha256: str
    data: bytes


def read_sources(incoming: Path) -> list[Source]:
    """The landed files in `incoming`, each read once: its manifest entry is what was validated."""
    if not incoming.is_dir():
        return []
    sources = []
    for path in sorted(p for p in incoming.iterdir() if is_landed(p)):
        data = path.read_bytes()
        sources.append(Source(path.name, len(data), hashlib.sha256(data).hexdigest(), data))
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
            }
            for s in sources
        ],
    }


def frozen_files(batches_dir: Path) -> dict[str, str]:
    """sha256 -> "<batch>/<name>" of every file a frozen batch took: what a redelivered file repeats."""
    taken: dict[str, str] = {}
    for manifest_file in sorted(batches_dir.glob("*/manifest.json")) if batches_dir.is_dir() else []:
        frozen = json.loads(manifest_file.read_text())
        for entry in frozen["files"]:
            taken.setdefault(entry["sha256"], f"{frozen['batch']}/{entry['name']}")
    return taken
