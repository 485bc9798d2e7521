"""Derive span 1 of the diabetes data from the raw (unscaled) files in the `scikit-learn==1.5.1` wheel.

Usage (scikit-learn is only needed for this one-off derivation, not at run time; the project's TFX
environment has the locked 1.5.1):

    uv run --no-project --with scikit-learn==1.5.1 python pipelines/diabetes/data/derive.py

`sklearn/datasets/data/diabetes_data_raw.csv.gz` holds the 10 features (space-separated, no header) and
`diabetes_target.csv.gz` the label, one row each per patient in the same order. They are joined into one
CSV with a header row. Every feature value is kept exactly as written in the raw file (so `age`, `sex`,
`s1` and `s6` stay integers, the other features keep their decimal point); the label, written there as
a float (`1.510000000000000000e+02`), is always a whole number and becomes an integer (`151`). The row
order is kept.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import importlib.util
from pathlib import Path

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
LABEL = "progression"
COLUMNS = [*FEATURES, LABEL]
DATA_FILE = "diabetes_data_raw.csv.gz"
TARGET_FILE = "diabetes_target.csv.gz"
# The two files as shipped in scikit-learn 1.5.1 (they match the wheel's RECORD).
SOURCE_SHA256 = {
    DATA_FILE: "a3e94cc7cea00f8a84fa5f6345203913a68efa42df18f87ddf9bead721bfd503",
    TARGET_FILE: "8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803",
}
ROWS = 442
DEFAULT_OUT = Path(__file__).parent / "span-1" / "diabetes.csv"


def installed_source_dir() -> Path:
    """sklearn/datasets/data of the installed scikit-learn, found without importing it (numpy, scipy)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-learn is not installed: pass --source-dir, or run with scikit-learn==1.5.1")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _read_checked(path: Path) -> list[str]:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256[path.name]:
        raise SystemExit(
            f"{path}: sha256 {digest} is not scikit-learn 1.5.1's {path.name} ({SOURCE_SHA256[path.name]})"
        )
    return gzip.decompress(raw).decode("ascii").splitlines()


def _label(value: str) -> int:
    number = float(value)
    if not number.is_integer():
        raise SystemExit(f"{TARGET_FILE}: label {value!r} is not a whole number")
    return int(number)


def derive(source_dir: Path, out: Path) -> int:
    features = [line.split() for line in _read_checked(source_dir / DATA_FILE)]
    labels = [_label(line) for line in _read_checked(source_dir / TARGET_FILE)]
    if len(features) != ROWS or len(labels) != ROWS or any(len(row) != len(FEATURES) for row in features):
        raise SystemExit(f"{source_dir}: expected {ROWS} rows of {len(FEATURES)} features and {ROWS} labels")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([*row, label] for row, label in zip(features, labels, strict=True))
    return ROWS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source-dir",
        type=Path,
        help=f"the folder holding {DATA_FILE} and {TARGET_FILE} (default: the installed scikit-learn's)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    source_dir = args.source_dir or installed_source_dir()
    print(f"wrote {derive(source_dir, args.out)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
