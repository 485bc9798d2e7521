"""A check killed at any step boundary (an exception, or SIGKILL in a child process) and run again loses
nothing and duplicates nothing: every valid record in exactly one span, every bad one in quarantine once,
incoming empty, one run per batch."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from contracts.config import REPO_ROOT
from release.datacheck.check import STEPS
from release.datacheck.spans import span_numbers
from tests.datacheck_helpers import make_check

pytestmark = pytest.mark.slow  # seconds: `nox -s tests` runs it, the push workflows' unit step does not

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"
BOUNDARIES = ("validated", "moving", *STEPS)


class CrashError(Exception):
    pass


def land(root, files=3, valid=30, bad=2):
    incoming = root / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    serial = iter(range(2000, 7000))
    good, wrong = [], []
    for index in range(files):
        rows = [f"Adelie,Dream,39.0,18.0,190,{next(serial)},male" for _ in range(valid)]
        rows_bad = [f"Adelie,Dream,39.0,18.0,190,{next(serial)}" for _ in range(bad)]
        (incoming / f"f{index}.csv").write_text("\r\n".join([HEADER, *rows, *rows_bad]) + "\r\n")
        good += rows
        wrong += rows_bad
    return good, wrong


def assert_lossless(root, good, bad, runs=1):
    data = root / "data" / "penguins"
    in_spans = [
        r for n in span_numbers(data) for r in (data / f"span-{n}" / "penguins.csv").read_text().splitlines()[1:]
    ]
    assert sorted(in_spans) == sorted(good), "every valid record in exactly one span"
    lines = [json.loads(x)["text"] for p in (data / "quarantine").glob("*.jsonl") for x in p.read_text().splitlines()]
    assert sorted(lines) == sorted(bad), "every bad record in quarantine, once"
    assert list((data / "incoming").iterdir()) == [], "nothing left in incoming"
    assert not list(data.glob(".span-*")), "no partial span left"
    assert len(make_check(root).submitter.runs()) == runs, "one run per batch"


@pytest.mark.parametrize("step", BOUNDARIES)
def test_an_exception_at_each_step_then_a_rerun(tmp_path, step):
    good, bad = land(tmp_path)

    def crash(reached):
        if reached == step:
            raise CrashError(step)

    with pytest.raises(CrashError):
        make_check(tmp_path, hook=crash).run()
    make_check(tmp_path).run()
    assert_lossless(tmp_path, good, bad)


def _child(root, step=""):
    command = [sys.executable, "-m", "tests.datacheck_helpers", str(root), step]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env)


@pytest.mark.parametrize("step", BOUNDARIES)
def test_sigkill_at_each_step_then_a_rerun(tmp_path, step):
    good, bad = land(tmp_path)
    assert _child(tmp_path, step).wait(60) == -signal.SIGKILL
    assert _child(tmp_path).wait(60) == 0
    assert_lossless(tmp_path, good, bad)


def test_sigkill_at_random_moments_then_a_rerun(tmp_path):
    good, bad = land(tmp_path, files=10, valid=400, bad=5)
    rng = random.Random(7)
    for _ in range(4):
        child = _child(tmp_path)
        time.sleep(rng.uniform(0.2, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait(60)
    assert _child(tmp_path).wait(60) == 0
    assert_lossless(tmp_path, good, bad)


def test_a_batch_interrupted_before_the_manifest_is_frozen_again_with_late_arrivals(tmp_path):
    good, bad = land(tmp_path)

    def crash(reached):
        if reached == "validated":
            raise CrashError(reached)

    with pytest.raises(CrashError):
        make_check(tmp_path, hook=crash).run()
    late = "Gentoo,Biscoe,47.5,15.0,217,6999,female"
    (tmp_path / "data" / "penguins" / "incoming" / "late.csv").write_text(f"{HEADER}\n{late}\n")
    make_check(tmp_path).run()
    assert_lossless(tmp_path, [*good, late], bad)


def test_a_partial_span_folder_is_removed_and_never_read(tmp_path):
    good, bad = land(tmp_path)
    partial = tmp_path / "data" / "penguins" / ".span-1-b-0000"
    partial.mkdir(parents=True)
    (partial / "penguins.csv").write_text(HEADER + "\n")
    make_check(tmp_path).run()
    assert_lossless(tmp_path, good, bad)
