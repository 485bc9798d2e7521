"""The labelled-data generator: valid records in varied formats, the bad ones it promises, the drifts."""

from localcloud import labelled_data
from pipelines.sources import pipeline_sources
from release.datacheck.records import parse_file
from release.datacheck.rules import load_rules

SCHEMA_FILE = pipeline_sources("penguins").schema_file


def parsed(paths):
    rules = load_rules(SCHEMA_FILE, "species")
    results = [parse_file(p.name, p.read_bytes(), rules) for p in paths]
    return [r for p in results for r in p.valid], [b for p in results for b in p.bad]


def test_records_land_complete_in_varied_formats_with_exactly_the_bad_ones_asked_for(tmp_path):
    paths = labelled_data.generate(tmp_path, 100, 3, None, 5, seed=1, pipeline="penguins")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary names left
    valid, bad = parsed(paths)
    assert (len(valid), len(bad)) == (100, 5)
    assert {b.reason.split(":")[0] for b in bad} == {
        "species",
        "island",
        "body_mass_g",
        "bill_depth_mm",
        "2 fields, the header has 7",
    }
    raw = [p.read_bytes() for p in paths]
    assert len({r.split(b"\n")[0] for r in raw}) > 1  # column orders differ between files


def test_relabel_swaps_adelie_and_chinstrap_and_shift_moves_the_bills(tmp_path):
    plain, _ = parsed(labelled_data.generate(tmp_path / "plain", 300, 1, None, 0, seed=2, pipeline="penguins"))
    relabelled, _ = parsed(
        labelled_data.generate(tmp_path / "relabel", 300, 1, "relabel", 0, seed=2, pipeline="penguins")
    )
    shifted, _ = parsed(labelled_data.generate(tmp_path / "shift", 300, 1, "shift", 0, seed=2, pipeline="penguins"))
    swap = {"Adelie": "Chinstrap", "Chinstrap": "Adelie", "Gentoo": "Gentoo"}
    assert [swap[row[0]] for row in plain] == [row[0] for row in relabelled]
    mean = lambda rows, i: sum(float(r[i]) for r in rows) / len(rows)  # noqa: E731
    assert mean(shifted, 2) > 1.1 * mean(plain, 2) and mean(shifted, 3) < 0.9 * mean(plain, 3)


def test_bad_arguments_are_exit_2(capsys):
    assert labelled_data.main(["--records", "2", "--files", "3"]) == 2
    assert "--files <= --records" in capsys.readouterr().err


def test_a_regression_pipelines_feed_comes_from_its_own_schema_and_span(tmp_path):
    rules = load_rules(pipeline_sources("diabetes").schema_file, "progression")
    paths = labelled_data.generate(tmp_path / "plain", 200, 2, None, 5, seed=3, pipeline="diabetes")
    results = [parse_file(p.name, p.read_bytes(), rules) for p in paths]
    plain, bad = [r for p in results for r in p.valid], [b for p in results for b in p.bad]
    assert (len(plain), len(bad)) == (200, 5)
    assert {b.reason.split(":")[0] for b in bad} == {"progression", "age", "s6", "sex", "2 fields, the header has 11"}
    relabelled = labelled_data.generate(tmp_path / "relabel", 200, 1, "relabel", 0, seed=3, pipeline="diabetes")
    drifted = [r for p in relabelled for r in parse_file(p.name, p.read_bytes(), rules).valid]
    label = rules.names.index("progression")
    mean = lambda rows: sum(float(r[label]) for r in rows) / len(rows)  # noqa: E731
    assert mean(drifted) > 1.3 * mean(plain)
