"""The data check's record rules: the curated schema's types, domains and ranges, any column order, BOM, CRLF."""

import pytest

from pipelines.sources import pipeline_sources
from release.datacheck.records import parse_file
from release.datacheck.rules import load_rules

SCHEMA_FILE = pipeline_sources("penguins").schema_file

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"
GOOD = "Adelie,Torgersen,39.1,18.7,181,3750,male"


@pytest.fixture(scope="module")
def rules():
    return load_rules(SCHEMA_FILE, "species")


def test_the_rules_are_the_curated_schema(rules):
    assert rules.names == tuple(HEADER.split(","))
    assert rules.classes == ("Adelie", "Chinstrap", "Gentoo")
    body_mass = next(c for c in rules.columns if c.name == "body_mass_g")
    assert (body_mass.kind, body_mass.minimum, body_mass.maximum) == ("int", 2000, 7000)


@pytest.mark.parametrize(
    "data",
    [
        f"{HEADER}\n{GOOD}\n".encode(),
        f"{HEADER}\r\n{GOOD}\r\n".encode(),
        b"\xef\xbb\xbf" + f"{HEADER}\n{GOOD}".encode(),
        b"sex,body_mass_g,flipper_length_mm,bill_depth_mm,bill_length_mm,island,species\r\n"
        b"male,3750,181,18.7,39.1,Torgersen,Adelie\r\n",
    ],
    ids=["lf", "crlf", "bom-no-final-newline", "other-column-order"],
)
def test_valid_records_in_every_format_come_out_in_schema_order(rules, data):
    parsed = parse_file("a.csv", data, rules)
    assert parsed.bad == []
    assert parsed.valid == [GOOD.split(",")]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Emperor,Torgersen,39.1,18.7,181,3750,male", "species: 'Emperor' is not one of"),
        (",Torgersen,39.1,18.7,181,3750,male", "species: empty"),
        ("Adelie,Torgersen,deep,18.7,181,3750,male", "bill_length_mm: 'deep' is not a number"),
        ("Adelie,Torgersen,39.1,18.7,181.5,3750,male", "flipper_length_mm: '181.5' is not an integer"),
        ("Adelie,Torgersen,39.1,18.7,181,90000,male", "body_mass_g: 90000 is outside [2000, 7000]"),
        ("Adelie,Torgersen,nan,18.7,181,3750,male", "bill_length_mm: nan is outside"),
        ("Adelie,Torgersen,39.1,18.7,181,3750", "6 fields, the header has 7"),
        ("Adelie,Torgersen,39.1,18.7,181,3750,male,x", "8 fields, the header has 7"),
    ],
)
def test_a_bad_record_is_kept_with_file_line_and_reason_and_does_not_block_the_good(rules, row, reason):
    parsed = parse_file("in.csv", f"{HEADER}\n{GOOD}\n{row}\n{GOOD}\n".encode(), rules)
    assert len(parsed.valid) == 2
    [bad] = parsed.bad
    assert (bad.file, bad.line, bad.text) == ("in.csv", 3, row)
    assert reason in bad.reason


def test_a_wrong_header_makes_every_record_bad_naming_the_columns(rules):
    parsed = parse_file("h.csv", f"{HEADER.replace('sex', 'gender')}\n{GOOD}\n{GOOD}\n".encode(), rules)
    assert parsed.valid == []
    assert [b.line for b in parsed.bad] == [2, 3]
    assert "missing ['sex'], unknown ['gender']" in parsed.bad[0].reason


def test_not_utf8_is_one_bad_record_naming_the_file(rules):
    parsed = parse_file("x.csv", b"\xff\xfe" + HEADER.encode(), rules)
    assert parsed.valid == [] and "not UTF-8" in parsed.bad[0].reason


def test_blank_lines_are_no_records(rules):
    parsed = parse_file("b.csv", f"{HEADER}\n\n{GOOD}\n\n".encode(), rules)
    assert (len(parsed.valid), parsed.bad) == (1, [])


def test_scores_are_accuracy_overall_and_per_class_and_none_on_nothing():
    from release.datacheck.evaluate import scores

    result = scores(["Adelie", "Gentoo", "Gentoo"], ["Adelie", "Adelie", "Gentoo"], ("Adelie", "Chinstrap", "Gentoo"))
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["per_class"] == {
        "Adelie": {"records": 2, "accuracy": 0.5},
        "Chinstrap": {"records": 0, "accuracy": None},
        "Gentoo": {"records": 1, "accuracy": 1.0},
    }
    assert scores([], [], ("Adelie",))["accuracy"] is None  # an empty batch divides by nothing


def test_a_regression_batch_is_scored_by_the_gate_metric_it_names(rules):
    from contracts.metrics import GATE_METRICS
    from release.datacheck.evaluate import errors, score

    assert errors([3.0, 5.0], [1.0, 5.0]) == {
        "MeanSquaredError": 2.0,
        "RootMeanSquaredError": pytest.approx(2**0.5),
        "MeanAbsoluteError": 1.0,
    }
    assert score(GATE_METRICS["MeanAbsoluteError"], [3.0, 5.0], [1.0, 5.0], rules) == {
        "records": 2,
        "metric": "MeanAbsoluteError",
        "value": 1.0,
    }
    record = score(GATE_METRICS["SparseCategoricalAccuracy"], ["Adelie", "Gentoo"], ["Adelie", "Adelie"], rules)
    assert (record["metric"], record["value"], record["per_class"]["Adelie"]["accuracy"]) == (
        "SparseCategoricalAccuracy",
        0.5,
        0.5,
    )


def test_instances_are_typed_raw_features_without_the_label(rules):
    from release.datacheck.evaluate import instances

    features, labels = instances([GOOD.split(",")], rules)
    assert labels == ["Adelie"]
    assert features == [
        {
            "island": "Torgersen",
            "bill_length_mm": 39.1,
            "bill_depth_mm": 18.7,
            "flipper_length_mm": 181,
            "body_mass_g": 3750,
            "sex": "male",
        }
    ]
