"""Seed the local data area from the spans shipped in the repository.

Runs read <local root>/data/<dataset>/span-<N>/, never the repository itself, so later spans (new data)
land beside the shipped ones without touching the work tree. Existing spans are never overwritten.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from contracts.data_layout import span_number


def seed_spans(source: Path, dest: Path) -> list[str]:
    """Copy each span-<N> folder of `source` that `dest` lacks; return the names copied."""
    spans = (
        sorted(p for p in source.iterdir() if p.is_dir() and span_number(p.name) is not None) if source.is_dir() else []
    )
    if not spans:
        raise FileNotFoundError(f"{source}: no span-<N> folders with data to seed from")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for span in spans:
        target = dest / span.name
        if target.exists():
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f".{span.name}-", dir=dest))
        # copy2 keeps modification times, which ExampleGen's input fingerprint includes.
        shutil.copytree(span, tmp, dirs_exist_ok=True, copy_function=shutil.copy2)
        os.rename(tmp, target)
        copied.append(span.name)
    return copied
