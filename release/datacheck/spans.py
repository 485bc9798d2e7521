"""Data spans: <data root>/span-<N>/, numbered as integers (span-10 comes after span-9).

A batch's span is written under a hidden temporary folder, fsynced, then renamed into place: the pipeline
never sees a half-written span. Each span the check writes carries `batch.json` naming its batch, so a check
that crashed after the rename finds the span it already wrote instead of writing a second one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

from release.datacheck.files import fsync_dir, read_json

_SPAN = re.compile(r"^span-([0-9]+)$")
MARKER = "batch.json"
DATA_FILE = "penguins.csv"


def span_numbers(data_root: Path) -> list[int]:
    """The spans present, as integers in ascending order."""
    if not data_root.is_dir():
        return []
    found = (_SPAN.match(p.name) for p in data_root.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def span_of_batch(data_root: Path, batch: str) -> int | None:
    """The span a batch became, or None."""
    for number in span_numbers(data_root):
        marker = read_json(data_root / f"span-{number}" / MARKER)
        if marker and marker.get("batch") == batch:
            return number
    return None


def csv_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def remove_partial(data_root: Path) -> None:
    """Temporary span folders a crashed check left: never visible to the pipeline, safe to delete."""
    if data_root.is_dir():
        for stale in data_root.glob(".span-*"):
            shutil.rmtree(stale, ignore_errors=True)


def write_span(data_root: Path, batch: str, data: bytes) -> int:
    """Make `data` (a CSV) the next span, completely, marked with `batch`; its number. Caller holds the lock."""
    existing = span_of_batch(data_root, batch)
    if existing is not None:
        return existing
    number = (span_numbers(data_root) or [0])[-1] + 1
    tmp = data_root / f".span-{number}-{batch}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, content in ((DATA_FILE, data), (MARKER, json.dumps({"batch": batch}).encode() + b"\n")):
        with open(tmp / name, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    fsync_dir(tmp)
    # rename onto an existing non-empty folder fails: a span is never replaced.
    os.rename(tmp, data_root / f"span-{number}")
    fsync_dir(data_root)
    return number
