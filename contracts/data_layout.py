"""A pipeline's data, one rule per path.

The data area of a dataset (EnvironmentConfig.data_root: gs://<prefix>-data/<dataset> on Google Cloud,
<local root>/data/<dataset> locally; the repository ships its first spans under data/<dataset>/):

    span-<N>/<dataset>.csv    a span, N a decimal integer (span-10 comes after span-9); the pipeline reads
                              span-<N>/*.csv, so a span may hold several CSV files (a shipped span, say)
    span-<N>/batch.json       the data check's claim: the batch that became span N
    incoming/                 labelled records land here
    quarantine/               bad records, with file, line and reason
    processed/<batch>/        the source files of a batch once its span is written
    batches/                  the data check's manifests and state
    .datacheck-lease.json     the data check's lease (Google Cloud)

Everything that names one of these paths takes it from here: the window reader (components/), the registry's
span hashes, the data check's stores, the local seeding, the labelled-data feed and the access table.
"""

from __future__ import annotations

import re
from typing import Literal

Area = Literal["incoming", "quarantine", "processed", "batches"]
AREAS: tuple[Area, ...] = ("incoming", "quarantine", "processed", "batches")

SPAN_PREFIX = "span-"
# What the pipeline reads of a span.
SPAN_FILES = "*.csv"
# TFX's input pattern for a span folder ({SPAN} is the span number).
SPAN_INPUT_PATTERN = f"{SPAN_PREFIX}{{SPAN}}/{SPAN_FILES}"
# The data check's claim of a span number for a batch, inside the span folder.
SPAN_MARKER = "batch.json"
LEASE = ".datacheck-lease.json"

_SPAN = re.compile(r"^span-([0-9]+)/?$")


def span_folder(number: int) -> str:
    """The folder name of span `number` (1 or more)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"a span number is an integer of 1 or more, not {number!r}")
    return f"{SPAN_PREFIX}{number}"


def span_number(name: str) -> int | None:
    """The span number of a folder name (`span-3`, or `span-3/` as object stores list it), else None."""
    match = _SPAN.match(name)
    return int(match.group(1)) if match else None


def span_file(dataset: str) -> str:
    """The one CSV file the data check writes into a span: <dataset>.csv."""
    return f"{dataset}.csv"


def join(root: str, *parts: str) -> str:
    """`root`/`parts`, for a gs:// URI or a local path alike (no doubled slash)."""
    return "/".join([root.rstrip("/"), *parts])
