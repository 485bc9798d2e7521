"""One rule per path: the span folder and the data area come from contracts/ only."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.config import load_environment
from contracts.data_layout import SPAN_INPUT_PATTERN, span_file, span_folder, span_number


def test_span_folders_are_numbered_as_integers():
    assert span_folder(10) == "span-10"
    assert [span_number(n) for n in ("span-1", "span-10/", "span-007")] == [1, 10, 7]
    assert sorted(["span-10", "span-9"], key=span_number) == ["span-9", "span-10"]
    assert SPAN_INPUT_PATTERN == "span-{SPAN}/*.csv"


@pytest.mark.parametrize("name", ["span-", "span-x", ".span-3-batch", "span-3/x.csv", "spans-3", "span--1"])
def test_other_names_are_not_spans(name):
    assert span_number(name) is None


@pytest.mark.parametrize("number", [0, -1, True, 1.0, "3"])
def test_a_span_number_is_a_positive_integer(number):
    with pytest.raises(ValueError, match="span number"):
        span_folder(number)


def test_the_data_area_follows_the_environment(tmp_path):
    dev, local = load_environment("dev", "penguins"), load_environment("local", "penguins")
    assert dev.data_root() == f"gs://penguins-dev-data/{dev.dataset}"
    assert dev.data_area("batches") == f"gs://penguins-dev-data/{dev.dataset}/batches"
    assert local.data_root(tmp_path) == str(tmp_path.resolve() / "data" / local.dataset)
    assert Path(local.data_area("incoming", tmp_path)) == tmp_path.resolve() / "data" / local.dataset / "incoming"
    assert span_file(local.dataset) == f"{local.dataset}.csv"
    with pytest.raises(ValueError, match="no data area 'spans'"):
        local.data_area("spans")  # type: ignore[arg-type]
