"""The scale benchmark's generator: rows drawn from the shipped span's per-species distributions, every value
inside the curated schema's ranges and domains, the same file for the same seed."""

import csv

from benchmarks.penguins_generator import NUMERIC, fit, generate


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rows_follow_the_species_distributions_and_stay_in_the_schema(tmp_path):
    rows = _rows(generate(30_000, tmp_path / "penguins.csv"))
    assert len(rows) == 30_000
    models = fit()
    for species, model in models.items():
        members = [r for r in rows if r["species"] == species]
        assert abs(len(members) / len(rows) - model.share) < 0.02, species
        for col, _, low, high in NUMERIC:
            values = [float(r[col]) for r in members]
            assert low <= min(values) and max(values) <= high, col
            assert abs(sum(values) / len(values) - model.means[col]) < 0.05 * model.stds[col] + 0.1, (species, col)
        islands = {r["island"] for r in members}
        assert islands <= set(model.categories["island"][0]), species  # Gentoo never on Dream or Torgersen.
    assert {r["sex"] for r in rows} == {"female", "male"}
    assert all(r["flipper_length_mm"].isdigit() and r["body_mass_g"].isdigit() for r in rows[:100])


def test_same_seed_same_file(tmp_path):
    first = generate(500, tmp_path / "a.csv", seed=3).read_bytes()
    assert generate(500, tmp_path / "b.csv", seed=3).read_bytes() == first
    assert generate(500, tmp_path / "c.csv", seed=4).read_bytes() != first
