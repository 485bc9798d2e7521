"""The model tests in a child process started at once, so that its TensorFlow import (seconds) runs on another
core while the caller opens the registry (MLflow's import, seconds too).

Call it with the version once the caller has checked it; the tests run there and then, and a failure raises
here as in-process. `close()` ends the child without waiting for TensorFlow's teardown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from contracts.registry import ModelVersion, SmokeTestFailedError
from release.model_tests import ModelTestsNotRunError

REPO = Path(__file__).resolve().parents[2]


class SuiteProcess:
    """Tests versions of `pipeline` (release/model_tests/suite.py)."""

    def __init__(self, pipeline: str, project: str | None = None) -> None:
        self.pipeline, self.project = pipeline, project
        self._child = subprocess.Popen(
            [sys.executable, "-m", "release.model_tests.process"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, version: ModelVersion) -> None:
        assert self._child.stdin is not None and self._child.stdout is not None
        ask = {"version": json.loads(version.model_dump_json()), "pipeline": self.pipeline, "project": self.project}
        try:
            self._child.stdin.write(json.dumps(ask) + "\n")
            self._child.stdin.flush()
        except BrokenPipeError:
            pass  # The child is gone: reported below from its (missing) answer.
        answer = self._child.stdout.readline()
        if not answer:
            code = self._child.wait()
            raise SmokeTestFailedError(f"version {version.version}: smoke test failed: its process ended ({code})")
        reply = json.loads(answer)
        if reply.get("untested"):
            raise ModelTestsNotRunError(
                f"version {version.version}: the model tests could not run: {reply['untested']}"
            )
        if reply["error"]:
            raise SmokeTestFailedError(reply["error"])

    def close(self) -> None:
        if self._child.stdin:
            self._child.stdin.close()  # EOF: the child exits; its teardown is its own.
        if self._child.stdout:
            self._child.stdout.close()


def _child() -> int:
    """Load TensorFlow now, then test the version the parent names on stdin (EOF: none)."""
    import os

    # The answer gets the pipe to itself: whatever TensorFlow or a library writes to stdout goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The import is the point: TensorFlow is loaded before the parent asks, while it opens the registry.
    import tensorflow  # noqa: F401

    from release.model_tests.suite import run_suite

    line = sys.stdin.readline()
    if not line:
        return 0
    reply: dict[str, str | None] = {"error": None, "untested": None}
    try:
        ask = json.loads(line)
        version = ModelVersion.model_validate(ask["version"])
        run_suite(version, pipeline=ask["pipeline"], project=ask.get("project"))
    except SmokeTestFailedError as err:
        reply["error"] = str(err)
    except Exception as err:  # Not a verdict on the model (a download failed, a malformed ask): said so.
        reply["untested"] = f"{type(err).__name__}: {err}"
    print(json.dumps(reply), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
