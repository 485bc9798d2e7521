"""Pipeline parameters: the one validation used by runners and the HyperparametersGen component."""

import math

import pytest

from contracts.parameters import LEARNING_RATE, MAX_WINDOW_SPANS, NUM_EPOCHS, newest_window, validate_span_range


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (20, 20), (1000, 1000)])
def test_num_epochs_accepts(value, expected):
    assert NUM_EPOCHS.validate(value) == expected


@pytest.mark.parametrize("value", [0, -1, 1001, 10**9, 2.5, "3", True, None, math.nan])
def test_num_epochs_rejects_and_names_itself(value):
    with pytest.raises(ValueError, match=r"^num_epochs: "):
        NUM_EPOCHS.validate(value)


@pytest.mark.parametrize(("value", "expected"), [(1e-5, 1e-5), (0.01, 0.01), (1, 1.0), (1.0, 1.0)])
def test_learning_rate_accepts(value, expected):
    assert LEARNING_RATE.validate(value) == expected
    assert isinstance(LEARNING_RATE.validate(value), float)


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.0001, math.nan, math.inf, -math.inf, "1e-2", False])
def test_learning_rate_rejects_and_names_itself(value):
    with pytest.raises(ValueError, match=r"^learning_rate: "):
        LEARNING_RATE.validate(value)


@pytest.mark.parametrize(("start", "end"), [(0, 0), (1, 1), (7, 7), (1, 3), (9, 10), (1, MAX_WINDOW_SPANS)])
def test_span_range_accepts_the_newest_window_or_a_range(start, end):
    assert validate_span_range(start, end) == (start, end)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (0, 3, "give both"),
        (3, 0, "give both"),
        (4, 2, "after span_end"),
        (1, MAX_WINDOW_SPANS + 1, "at most 100 spans"),
        (-1, -1, "span_start"),
    ],
)
def test_span_range_rejects(start, end, message):
    with pytest.raises(ValueError, match=message):
        validate_span_range(start, end)


@pytest.mark.parametrize(
    ("newest", "window", "expected"),
    [(1, 3, (1, 1)), (2, 3, (1, 2)), (3, 3, (1, 3)), (10, 3, (8, 10)), (10, 1, (10, 10))],
)
def test_newest_window_holds_the_newest_spans_or_all_if_fewer(newest, window, expected):
    assert newest_window(newest, window) == expected


@pytest.mark.parametrize(
    ("newest", "window", "message"),
    [
        (0, 3, "newest span"),
        (5, 0, "window_spans"),
        (5, MAX_WINDOW_SPANS + 1, "window_spans"),
        (5, True, "window_spans"),
    ],
)
def test_newest_window_rejects(newest, window, message):
    with pytest.raises(ValueError, match=message):
        newest_window(newest, window)
