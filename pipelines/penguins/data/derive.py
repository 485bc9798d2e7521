"""Derive span 1 of the penguins data from the `palmerpenguins` package's CSV.

Usage (the package is only needed for this one-off derivation, not at run time):

    uv run --no-project --with palmerpenguins==0.1.4 python pipelines/penguins/data/derive.py

Rows with any missing value are dropped (344 -> 333 rows) and the `year` column is removed, because the
model does not use it and a year would leak collection order into a model meant to generalise across spans.
The row order and every kept value are left exactly as published.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from importlib import resources
from pathlib import Path

COLUMNS = [
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
]
SOURCE_SHA256 = "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93"
DEFAULT_OUT = Path(__file__).parent / "span-1" / "penguins.csv"


def derive(source: Path, out: Path) -> int:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{source}: sha256 {digest} is not the palmerpenguins 0.1.4 file ({SOURCE_SHA256})")
    with source.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(r[c] not in ("", "NA") for c in COLUMNS)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="penguins.csv (default: the installed palmerpenguins package)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    source = args.source or Path(str(resources.files("palmerpenguins") / "data" / "penguins.csv"))
    print(f"wrote {derive(source, args.out)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
