"""Generate a penguins span of any size, drawn from the shipped span's per-species distributions.

    python -m benchmarks.penguins_generator --rows 100000 --output /tmp/span-2/penguins.csv

For each species (in the shipped span's proportions): island and sex from that species' frequencies, each
numeric column from a normal distribution with that species' mean and standard deviation, rounded like the
source and clipped to the curated schema's value ranges, so ExampleValidator accepts every row. Seeded: the
same size gives the same file. Nothing this large is shipped; the scale benchmark writes it where it runs.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.sources import pipeline_sources

SOURCE = pipeline_sources("penguins").data_dir / "span-1" / "penguins.csv"
COLUMNS = ("species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex")
# (column, decimals, low, high): the source's precision and pipelines/penguins/schema/schema.pbtxt's value ranges.
NUMERIC = (
    ("bill_length_mm", 1, 25.0, 70.0),
    ("bill_depth_mm", 1, 10.0, 25.0),
    ("flipper_length_mm", 0, 150.0, 250.0),
    ("body_mass_g", 0, 2000.0, 7000.0),
)
CATEGORICAL = ("island", "sex")
CHUNK = 100_000  # Rows drawn and written at a time: memory stays flat whatever the size.


@dataclass(frozen=True)
class SpeciesModel:
    share: float
    means: dict[str, float]
    stds: dict[str, float]
    categories: dict[str, tuple[list[str], list[float]]]


def fit(source: Path = SOURCE) -> dict[str, SpeciesModel]:
    """Per-species share, numeric means and standard deviations, and categorical frequencies."""
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    by_species: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_species.setdefault(row["species"], []).append(row)
    models = {}
    for species, members in sorted(by_species.items()):
        values = {col: np.array([float(r[col]) for r in members]) for col, *_ in NUMERIC}
        categories = {}
        for col in CATEGORICAL:
            counts = Counter(r[col] for r in members)
            names = sorted(counts)
            categories[col] = (names, [counts[n] / len(members) for n in names])
        models[species] = SpeciesModel(
            share=len(members) / len(rows),
            means={c: float(v.mean()) for c, v in values.items()},
            stds={c: float(v.std(ddof=1)) for c, v in values.items()},
            categories=categories,
        )
    return models


def _chunk(models: dict[str, SpeciesModel], rows: int, rng: np.random.Generator) -> list[list[object]]:
    names = list(models)
    species = rng.choice(names, size=rows, p=[models[n].share for n in names])
    columns: dict[str, np.ndarray] = {"species": species}
    for col in CATEGORICAL:
        columns[col] = np.empty(rows, dtype=object)
    for col, *_ in NUMERIC:
        columns[col] = np.empty(rows)
    for name, model in models.items():
        mask = species == name
        count = int(mask.sum())
        for col in CATEGORICAL:
            values, weights = model.categories[col]
            columns[col][mask] = rng.choice(values, size=count, p=weights)
        for col, decimals, low, high in NUMERIC:
            drawn = rng.normal(model.means[col], model.stds[col], size=count)
            columns[col][mask] = np.clip(np.round(drawn, decimals), low, high)
    as_text = {col: columns[col].astype(int) if decimals == 0 else columns[col] for col, decimals, *_ in NUMERIC}
    return [
        [columns["species"][i], columns["island"][i], *(as_text[c][i] for c, *_ in NUMERIC), columns["sex"][i]]
        for i in range(rows)
    ]


def generate(rows: int, output: Path, seed: int = 0, source: Path = SOURCE) -> Path:
    """Write `rows` generated rows (and the header) to `output`, CHUNK rows at a time."""
    if rows < 1:
        raise ValueError(f"rows: expected at least 1, got {rows}")
    models = fit(source)
    rng = np.random.default_rng(seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for start in range(0, rows, CHUNK):
            writer.writerows(_chunk(models, min(CHUNK, rows - start), rng))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True, help="the CSV file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        generate(args.rows, args.output, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.rows} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
