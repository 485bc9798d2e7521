"""The registry commands of `bench_serve`, timed the way a user types them: a fresh `ci/nox -s models -- ...`
process each time, from its start to the new version answering on the server (promote, rollback) or to its
end (list); the median of N for each, with every sample kept.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from contracts.config import REPO_ROOT

NOX = REPO_ROOT / "ci" / "nox"
SERVE_TIMEOUT_SECONDS = 60


def nox_models(env: str, root: Path, *args: str) -> list[str]:
    """The command a user types: `ci/nox -s models -- <args> --env ENV --local-root ROOT`."""
    return [str(NOX), "-s", "models", "--", *args, "--env", env, "--local-root", str(root)]


def direct_models(env: str, root: Path, *args: str) -> list[str]:
    """The same command without nox: `python -m release.models_cli ...` in the TFX environment."""
    return [sys.executable, "-m", "release.models_cli", *args, "--env", env, "--local-root", str(root)]


def run(command: list[str]) -> float:
    """Seconds from starting `command` to its end; CalledProcessError (with its output) if it fails."""
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def time_to_serve(command: list[str], version: str, served: Callable[[], str]) -> dict[str, float]:
    """Seconds from starting `command` to `served()` (the version answering) first returning `version`, and to
    the command's end. The server is asked while the command runs: a move serves its version before the command
    has returned (release/promotion/local_mover.py switches serving before it moves MLflow's alias)."""
    with tempfile.TemporaryFile() as errors:  # not a pipe: nothing reads it while the command runs
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        to_served = None
        while to_served is None:
            if served() == version:
                to_served = time.perf_counter() - start
            elif time.perf_counter() - start > SERVE_TIMEOUT_SECONDS:
                process.kill()
                raise RuntimeError(f"version {version} was not served within {SERVE_TIMEOUT_SECONDS} s of {command}")
            elif process.poll() not in (None, 0):
                break  # failed: reported below with its output
            else:
                time.sleep(0.02)
        process.wait()
        ended = time.perf_counter() - start
        errors.seek(0)
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, command, stderr=errors.read())
    return {"command_s": ended, "to_served_s": to_served if to_served is not None else ended}


def median_of(samples: list[dict[str, float]] | list[float]) -> dict:
    """The medians of the samples (per key for dicts), and the samples."""
    if samples and isinstance(samples[0], dict):
        keys = samples[0].keys()
        medians = {f"median_{k}": statistics.median(s[k] for s in samples) for k in keys}  # type: ignore[index]
    else:
        medians = {"median_s": statistics.median(samples)}  # type: ignore[arg-type]
    return {**medians, "samples": samples}


def moves(
    env: str, pipeline: str, root: Path, older: str, newer: str, repeats: int, served: Callable[[], str]
) -> dict[str, dict]:
    """`repeats` rounds of `promote OLDER` then `rollback` (back to NEWER) of `pipeline`'s champion, typed; the
    champion starts at NEWER."""
    promote, rollback = [], []
    for _ in range(repeats):
        command = nox_models(env, root, "promote", older, "--approve", "bench", "--pipeline", pipeline)
        promote.append(time_to_serve(command, older, served))
        command = nox_models(env, root, "rollback", "--approve", "bench", "--pipeline", pipeline)
        rollback.append(time_to_serve(command, newer, served))
    return {"promote": median_of(promote), "rollback": median_of(rollback)}


def listing(env: str, pipeline: str, root: Path, repeats: int) -> dict[str, dict]:
    """`models list` of `pipeline`, typed (through ci/nox) and without nox, `repeats` times each."""
    return {
        "nox": median_of([run(nox_models(env, root, "list", "--pipeline", pipeline)) for _ in range(repeats)]),
        "direct": median_of([run(direct_models(env, root, "list", "--pipeline", pipeline)) for _ in range(repeats)]),
    }
