"""The scale benchmark's bound and verdicts: its prediction is linear in rows, its growth check can say MORE."""

from benchmarks.scale_curve import growth, predict


def test_prediction_is_linear_in_rows():
    assert predict([], 10) is None
    assert predict([{"rows": 10, "process_seconds": 20.0}], 100) == 200.0
    measured = [{"rows": 10_000, "process_seconds": 60.0}, {"rows": 100_000, "process_seconds": 150.0}]
    assert predict(measured, 1_000_000) == 150.0 + 0.001 * 900_000  # fixed cost + cost per row


def _size(rows, seconds):
    return {"rows": rows, "components": {"Transform": {"seconds": seconds, "peak_rss_gib": 1.0}}}


def test_growth_says_when_time_grows_faster_than_rows():
    assert "at most linear" in growth([_size(10_000, 10.0), _size(100_000, 50.0)])[0]
    assert "MORE THAN LINEAR" in growth([_size(10_000, 10.0), _size(100_000, 200.0)])[0]


def test_a_component_shorter_than_a_sample_has_no_peak():
    from benchmarks.scale_curve import RssSampler

    sampler = RssSampler()
    sampler.samples = [(10.0, 100), (10.2, 300), (10.4, 200)]
    assert sampler.peak() == 300 and sampler.peak(10.3, 10.5) == 200
    assert sampler.peak(10.05, 10.15) is None
