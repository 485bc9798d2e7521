"""The data check's command line: exit 2 naming bad input, the report of what waits."""

from release.datacheck import cli

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"


def test_an_unknown_environment_is_exit_2_naming_it(capsys):
    assert cli.main(["--env", "nope"]) == 2
    assert "nope.yaml: environment file not found" in capsys.readouterr().err


def test_a_cloud_environment_stops_saying_the_local_area_is_the_only_one_read(capsys):
    assert cli.main(["--env", "dev"]) == 2
    assert "gs://penguins-dev-data/penguins/incoming is not read yet" in capsys.readouterr().err


def test_too_few_records_are_reported_and_stay_and_the_shipped_spans_are_seeded_first(tmp_path, capsys):
    incoming = tmp_path / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "a.csv").write_text(
        f"{HEADER}\nAdelie,Dream,39.0,18.0,190,3800,male\nAdelie,Dream,x,18,190,3800,male\n"
    )
    assert cli.main(["--local-root", str(tmp_path)]) == 0
    assert "waiting in incoming/: 1 valid, 1 bad records (a batch needs 50 valid)" in capsys.readouterr().out
    assert (incoming / "a.csv").is_file()
    assert (tmp_path / "data" / "penguins" / "span-1" / "penguins.csv").is_file()  # the shipped span, not a batch
