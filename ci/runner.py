"""Run one workflow step: through its nox session (what `nox -s cicd` does), or its command directly (tests).

Standard library only. A step's output streams to the console as it comes; nox's own "Session X skipped:
reason" line marks a step that chose not to run (e.g. a Terraform plan without credentials).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from ci.workflows import SESSION_COMMANDS, Step

_NOX_SKIPPED = re.compile(r"Session \S+ skipped: (?P<reason>.*)$")
# What TensorFlow reads at import (the noxfile sets the same for its TFX sessions).
TF_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass(frozen=True)
class StepResult:
    step: Step
    status: str  # ok, skipped, failed, cancelled or reused
    seconds: float
    detail: str = ""


class Runner(Protocol):
    def command(self, step: Step) -> list[str]: ...

    def environment(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class NoxRunner:
    """`nox -s <session> -- <args>` with the repository's noxfile: exactly what Cloud Build's steps call."""

    repo: Path

    def command(self, step: Step) -> list[str]:
        noxfile = str(self.repo / "noxfile.py")
        return [sys.executable, "-m", "nox", "-f", noxfile, "-s", step.session, "--", *step.args]

    def environment(self) -> dict[str, str]:
        return dict(os.environ)


@dataclass(frozen=True)
class DirectRunner:
    """The command a TFX step session runs, with a given interpreter (no nox): for tests on a copy."""

    repo: Path
    python: str

    def command(self, step: Step) -> list[str]:
        if step.session not in SESSION_COMMANDS:
            raise KeyError(f"step {step.name!r}: session {step.session!r} has no direct command")
        return [self.python, *SESSION_COMMANDS[step.session], *step.args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **TF_ENV, "PYTHONPATH": str(self.repo)}


@dataclass
class Running:
    """A step started in the background: its output goes to a log file, echoed when it ends."""

    step: Step
    process: subprocess.Popen[bytes]
    log_path: Path
    start: float


def start_step(runner: Runner, step: Step, repo: Path, log_path: Path, out: TextIO) -> Running:
    """Start `step` alongside the next ones (Cloud Build's `waitFor: ['-']`); finish_step waits for it."""
    command = runner.command(step)
    print(f"--- {step.name} (in the background, log {log_path}): {' '.join(_shown(command))}", file=out, flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=repo, env=runner.environment(), stdout=log, stderr=subprocess.STDOUT)
    return Running(step, process, log_path, time.perf_counter())


def finish_step(running: Running, out: TextIO, *, cancel: bool = False) -> StepResult:
    """Wait for a background step (or stop it, when an earlier failure makes its result moot)."""
    if cancel and running.process.poll() is None:
        running.process.terminate()
        running.process.wait()
        return StepResult(running.step, "cancelled", time.perf_counter() - running.start, "an earlier step failed")
    code = running.process.wait()
    seconds = time.perf_counter() - running.start
    text = running.log_path.read_text(errors="replace")
    print(f"--- {running.step.name} ended ({seconds:.1f}s); its output:", file=out)
    out.write(text)
    out.flush()
    return _result(running.step, code, seconds, text.splitlines())


def _shown(command: list[str]) -> list[str]:
    """How a step reads in the log: `nox -s <session> -- <args>` for nox (not the interpreter and noxfile path)."""
    if command[1:3] == ["-m", "nox"] and "-s" in command:
        return ["nox", *command[command.index("-s") :]]
    return command


def _result(step: Step, code: int, seconds: float, lines: list[str]) -> StepResult:
    if code != 0:
        return StepResult(step, "failed", seconds, f"exit status {code}")
    skipped = [found["reason"] for line in lines if (found := _NOX_SKIPPED.search(line.rstrip()))]
    return StepResult(step, "skipped" if skipped else "ok", seconds, skipped[-1] if skipped else "")


def run_step(runner: Runner, step: Step, repo: Path, out: TextIO) -> StepResult:
    """Run `step` in `repo`, streaming its output to `out`; the result says ok, skipped or failed."""
    command = runner.command(step)
    print(f"--- {step.name}: {' '.join(_shown(command))}", file=out, flush=True)
    start = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=repo,
        env=runner.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            lines.append(line)
        code = process.wait()
    return _result(step, code, time.perf_counter() - start, lines)
