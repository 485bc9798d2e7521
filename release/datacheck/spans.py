"""Data spans in a local data area: <data root>/span-<N>/ (contracts/data_layout.py).

A batch's span is written under a hidden temporary folder, fsynced, then renamed into place: the pipeline
never sees a half-written span. Each span the check writes carries `batch.json` naming its batch, so a check
that crashed after the rename finds the span it already wrote instead of writing a second one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

from contracts.data_layout import SPAN_MARKER, SPAN_PREFIX, span_file, span_folder, span_number
from release.datacheck.files import fsync_dir, read_json


def span_numbers(data_root: Path) -> list[int]:
    """The spans present, as integers in ascending order."""
    if not data_root.is_dir():
        return []
    found = (span_number(p.name) for p in data_root.iterdir() if p.is_dir())
    return sorted(n for n in found if n is not None)


def span_of_batch(data_root: Path, batch: str) -> int | None:
    """The span a batch became, or None."""
    for number in span_numbers(data_root):
        marker = read_json(data_root / span_folder(number) / SPAN_MARKER)
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
        for stale in data_root.glob(f".{SPAN_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)


def write_span(data_root: Path, batch: str, data: bytes) -> int:
    """Make `data` (a CSV) the next span, completely, marked with `batch`; its number. Caller holds the lock."""
    existing = span_of_batch(data_root, batch)
    if existing is not None:
        return existing
    number = (span_numbers(data_root) or [0])[-1] + 1
    tmp = data_root / f".{span_folder(number)}-{batch}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, content in (
        (span_file(data_root.name), data),
        (SPAN_MARKER, json.dumps({"batch": batch}).encode() + b"\n"),
    ):
        with open(tmp / name, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    fsync_dir(tmp)
    # rename onto an existing non-empty folder fails: a span is never replaced.
    os.rename(tmp, data_root / span_folder(number))
    fsync_dir(data_root)
    return number
