"""The data check's state machine: batches, spans, quarantine, moves and one submission per batch."""

import json
import threading

import pytest

from release.datacheck.spans import span_numbers
from tests.datacheck_helpers import make_check

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"
_serial = iter(range(2000, 7000))


def land(root, name, valid, bad=0):
    """A file of `valid` unique records (body_mass_g tells them apart) and `bad` unknown-label ones."""
    rows = [f"Gentoo,Biscoe,47.5,15.0,217,{next(_serial)},female" for _ in range(valid)]
    rows += [f"Emperor,Biscoe,47.5,15.0,217,{next(_serial)},female" for _ in range(bad)]
    incoming = root / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / name).write_text("\n".join([HEADER, *rows]) + "\n")
    return rows[:valid], rows[valid:]


def spans(root):
    data = root / "data" / "penguins"
    return {n: (data / f"span-{n}" / "penguins.csv").read_text().splitlines()[1:] for n in span_numbers(data)}


def quarantined(root):
    folder = root / "data" / "penguins" / "quarantine"
    return [json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines()]


def test_a_batch_becomes_the_next_span_with_its_bad_records_quarantined_and_one_run(tmp_path):
    good, bad = land(tmp_path, "a.csv", 40, bad=2)
    good += land(tmp_path, "b.csv", 20)[0]
    report = make_check(tmp_path, accuracy=0.5).run()
    [outcome] = report.batches
    assert (outcome["span"], outcome["records"], outcome["quarantined"], outcome["retrain"]) == (1, 60, 2, True)
    assert sorted(spans(tmp_path)[1]) == sorted(good)
    assert [(q["file"], q["line"], q["text"]) for q in quarantined(tmp_path)] == [
        ("a.csv", 42, bad[0]),
        ("a.csv", 43, bad[1]),
    ]
    incoming = tmp_path / "data" / "penguins" / "incoming"
    assert list(incoming.iterdir()) == []
    processed = tmp_path / "data" / "penguins" / "processed" / outcome["batch"]
    assert sorted(p.name for p in processed.iterdir()) == ["a.csv", "b.csv"]
    [run] = make_check(tmp_path).submitter.runs().values()
    assert run["parameters"]["span_start"] == run["parameters"]["span_end"] == 1
    assert run["labels"]["source"] == "data" and run["labels"]["spans"] == "1-1"


def test_below_min_new_records_nothing_moves_and_the_report_says_how_many_wait(tmp_path):
    land(tmp_path, "a.csv", 49, bad=3)
    report = make_check(tmp_path).run()
    assert (report.batches, report.waiting_valid, report.waiting_bad) == ([], 49, 3)
    assert spans(tmp_path) == {} and quarantined(tmp_path) == []
    assert [p.name for p in (tmp_path / "data" / "penguins" / "incoming").iterdir()] == ["a.csv"]


@pytest.mark.parametrize(
    ("accuracy", "policy", "retrain"),
    [(0.95, "on-threshold", False), (0.89, "on-threshold", True), (0.99, "always", True), (None, "on-threshold", True)],
)
def test_retraining_follows_the_threshold_and_the_policy(tmp_path, accuracy, policy, retrain):
    land(tmp_path, "a.csv", 50)
    [outcome] = make_check(tmp_path, accuracy=accuracy, retrain=policy).run().batches
    assert outcome["retrain"] is retrain and bool(outcome["submitted"]) is retrain
    assert outcome["span"] == 1  # the batch becomes a span whether or not it retrains
    assert len(make_check(tmp_path).submitter.runs()) == int(retrain)


def test_spans_are_numbered_as_integers_span_10_after_span_9(tmp_path):
    data = tmp_path / "data" / "penguins"
    for n in (1, 2, 9):
        (data / f"span-{n}").mkdir(parents=True)
    land(tmp_path, "a.csv", 50)
    assert make_check(tmp_path).run().batches[0]["span"] == 10
    land(tmp_path, "b.csv", 50)
    assert make_check(tmp_path).run().batches[0]["span"] == 11


def test_a_file_changed_after_the_freeze_is_not_moved_and_makes_the_next_batch(tmp_path):
    land(tmp_path, "a.csv", 50)

    def replace_a(step):
        if step == "span":  # the producer rewrites a.csv between the freeze and the move
            land(tmp_path, "a.csv", 50)

    [first] = make_check(tmp_path, hook=replace_a).run().batches
    incoming = tmp_path / "data" / "penguins" / "incoming"
    assert [p.name for p in incoming.iterdir()] == ["a.csv"]
    [second] = make_check(tmp_path).run().batches
    assert (first["span"], second["span"]) == (1, 2) and first["batch"] != second["batch"]
    assert len(set(spans(tmp_path)[1]) | set(spans(tmp_path)[2])) == 100


def test_two_checks_started_together_make_one_span_and_one_run(tmp_path):
    good = land(tmp_path, "a.csv", 60)[0]
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(make_check(tmp_path).run())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r.batches) for r in reports) == [0, 1]
    assert list(spans(tmp_path)) == [1] and sorted(spans(tmp_path)[1]) == sorted(good)
    assert len(make_check(tmp_path).submitter.runs()) == 1


def test_a_rerun_of_a_done_batch_does_nothing(tmp_path):
    land(tmp_path, "a.csv", 50)
    make_check(tmp_path).run()
    report = make_check(tmp_path).run()
    assert report.batches == [] and list(spans(tmp_path)) == [1]
    assert (tmp_path / "submitted" / "calls.log").read_text().count("\n") == 1


def test_a_redelivered_file_is_set_aside_not_ingested_twice(tmp_path):
    good = land(tmp_path, "a.csv", 50)[0]
    make_check(tmp_path).run()
    incoming = tmp_path / "data" / "penguins" / "incoming"
    processed = tmp_path / "data" / "penguins" / "processed"
    (incoming / "again.csv").write_bytes(next(processed.glob("b-*/a.csv")).read_bytes())
    fresh = land(tmp_path, "b.csv", 50)[0]
    report = make_check(tmp_path).run()
    assert len(report.redelivered) == 1 and report.redelivered[0].startswith("again.csv (as b-")
    assert [sorted(rows) for rows in spans(tmp_path).values()] == [sorted(good), sorted(fresh)]
    assert [p.name.split("-", 1)[1] for p in (processed / "redelivered").iterdir()] == ["again.csv"]
    assert list(incoming.iterdir()) == []


def test_the_same_bytes_twice_in_one_listing_are_ingested_once(tmp_path):
    good = land(tmp_path, "a.csv", 50)[0]
    incoming = tmp_path / "data" / "penguins" / "incoming"
    (incoming / "copy.csv").write_bytes((incoming / "a.csv").read_bytes())
    report = make_check(tmp_path).run()
    assert report.redelivered == ["copy.csv (as a.csv, in this batch)"]
    assert sorted(spans(tmp_path)[1]) == sorted(good)
    assert list(incoming.iterdir()) == []


def _monitor_report(root, window, champion, status):
    folder = root / "data" / "penguins" / "monitoring" / window
    folder.mkdir(parents=True)
    reasons = ["island: L-infinity 0.510 > 0.1"] if status == "drift" else []
    report = {"window": {"id": window}, "status": status, "reasons": reasons, "champion": {"version": champion},
              "requests": {"logged": 300}}  # fmt: skip
    (folder / "report.json").write_text(json.dumps(report))


@pytest.mark.parametrize(
    ("retrain_on_drift", "reports", "retrain"),
    [
        (True, [("20261205T0500Z-60m", "1", "drift"), ("20261205T0600Z-60m", "1", "ok")], True),
        (True, [("20261205T0500Z-60m", "9", "drift")], False),  # flagged while another champion served
        (False, [("20261205T0500Z-60m", "1", "drift")], False),
        (True, [], False),
    ],
)
def test_a_flagged_monitor_window_of_the_champion_is_a_reason_to_retrain_when_configured(
    tmp_path, retrain_on_drift, reports, retrain
):
    for window, champion, status in reports:
        _monitor_report(tmp_path, window, champion, status)
    land(tmp_path, "a.csv", 60)
    [outcome] = make_check(tmp_path, accuracy=0.99, retrain_on_drift=retrain_on_drift).run().batches
    assert outcome["retrain"] is retrain
    if retrain:
        assert outcome["why"] == "the monitor flagged window 20261205T0500Z-60m (island: L-infinity 0.510 > 0.1)"
        assert outcome["evaluation"]["drift"]["window"] == "20261205T0500Z-60m"
