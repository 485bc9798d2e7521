"""The smoke test a version passes before an alias moves to it: load it and predict on a few shipped records.

A model that does not load, has no raw-feature signature, answers with invalid probabilities or gets most of
these easy records wrong does not serve; the champion stays where it was.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from contracts.registry import ModelVersion, SmokeTestFailedError

RECORDS = Path(__file__).with_name("smoke_records.json")
# Two typical penguins of each species from span 1: a blessed model (accuracy >= 0.9) gets them right.
MIN_CORRECT = 5


def shipped_records() -> tuple[list[dict], list[str]]:
    """The shipped records as raw-feature instances (what a prediction request holds), and their labels."""
    records = json.loads(RECORDS.read_text())
    labels = [record.pop("species") for record in records]
    return records, labels


def smoke_test(version: ModelVersion) -> None:
    """Raise SmokeTestFailedError naming the version and what failed; return quietly when it passes."""
    from components.registry.predictor import Predictor

    records, labels = shipped_records()
    try:
        predictions = Predictor(version.uri, version.version).predict(records)
    except Exception as err:  # Whatever stops it loading or predicting (a TF error too) is a failed test.
        raise SmokeTestFailedError(f"version {version.version}: smoke test failed: {err}") from err
    for prediction in predictions:
        total = sum(prediction["probabilities"])
        if not all(math.isfinite(p) for p in prediction["probabilities"]) or abs(total - 1.0) > 1e-3:
            raise SmokeTestFailedError(f"version {version.version}: smoke test failed: probabilities {prediction}")
    correct = sum(p["species"] == label for p, label in zip(predictions, labels, strict=True))
    if correct < MIN_CORRECT:
        raise SmokeTestFailedError(
            f"version {version.version}: smoke test failed: {correct} of {len(labels)} shipped records right "
            f"(needs {MIN_CORRECT})"
        )


class SmokeProcess:
    """The same smoke test in a child process started at once, so that its TensorFlow import and model load
    (seconds) run on another core while the caller opens the registry (MLflow's import, seconds too).

    Call it with the version once the caller holds the registry lock; the test runs there and then, and a
    failure raises here as in-process. `close()` ends the child without waiting for TensorFlow's teardown.
    """

    def __init__(self) -> None:
        import subprocess
        import sys

        repo = Path(__file__).resolve().parents[2]
        self._child = subprocess.Popen(
            [sys.executable, "-m", "components.registry.smoke"],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, version: ModelVersion) -> None:
        assert self._child.stdin is not None and self._child.stdout is not None
        try:
            self._child.stdin.write(version.model_dump_json() + "\n")
            self._child.stdin.flush()
        except BrokenPipeError:
            pass  # The child is gone: reported below from its (missing) answer.
        answer = self._child.stdout.readline()
        if not answer:
            code = self._child.wait()
            raise SmokeTestFailedError(f"version {version.version}: smoke test failed: its process ended ({code})")
        error = json.loads(answer)["error"]
        if error:
            raise SmokeTestFailedError(error)

    def close(self) -> None:
        if self._child.stdin:
            self._child.stdin.close()  # EOF: the child exits; its teardown is its own.
        if self._child.stdout:
            self._child.stdout.close()


def _child() -> int:
    """Load TensorFlow and the predictor now, then test the version the parent names on stdin (EOF: none)."""
    import os
    import sys

    # The answer gets the pipe to itself: whatever TensorFlow or a library writes to stdout goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The import is the point: TensorFlow is loaded before the parent asks, while it opens the registry.
    import tensorflow  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return 0
    try:
        smoke_test(ModelVersion.model_validate_json(line))
        error = None
    except SmokeTestFailedError as err:
        error = str(err)
    except Exception as err:  # A malformed ask: report it as a failed test rather than die silently.
        error = f"smoke test failed: {err}"
    print(json.dumps({"error": error}), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
