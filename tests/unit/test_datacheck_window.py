"""The data check's run trains on the rolling window ending at the new span (training.window_spans)."""

import pytest

from tests.datacheck_helpers import make_check
from tests.unit.test_datacheck import land


@pytest.mark.parametrize(
    ("existing", "window", "expected"),
    [((), 3, (1, 1)), ((1,), 3, (1, 2)), ((1, 2, 3, 4), 3, (3, 5)), ((1, 2, 3, 4), 1, (5, 5))],
)
def test_the_run_reads_the_newest_window_spans(tmp_path, existing, window, expected):
    data = tmp_path / "data" / "penguins"
    for n in existing:
        (data / f"span-{n}").mkdir(parents=True)
    land(tmp_path, "a.csv", 50)
    check = make_check(tmp_path)
    check.config = check.config.with_settings(
        training=check.config.training.model_copy(update={"window_spans": window})
    )
    assert check.run().batches[0]["span"] == expected[1]
    [run] = check.submitter.runs().values()
    assert (run["parameters"]["span_start"], run["parameters"]["span_end"]) == expected
    assert run["labels"]["spans"] == f"{expected[0]}-{expected[1]}"
