"""What the rehearsal prints: one line per flow step (✓ or ✗), the request that
decided it, a summary; and the full request log (and the grants used and unused) in the output folder."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.standin.server import LogEntry

# The label column: <environment>/<pipeline>, e.g. prod/penguins (pipeline names have at most 20 characters).
ENV_WIDTH = 13


@dataclass
class Outcome:
    env: str  # <environment>/<pipeline>, an environment's name, or "all"
    flow: str
    state: str  # ok or failed
    text: str
    evidence: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        mark = {"ok": "✓", "failed": "✗"}[self.state]
        head = f"{self.env:<{ENV_WIDTH}} {self.flow:<14} {mark} {self.text}"
        return [head, *(f"{'':<{ENV_WIDTH + 16}}{line}" for line in self.evidence)]


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.outcomes.append(outcome)
            print("\n".join(outcome.lines()), flush=True)
        return outcome

    def ok(self, env: str, flow: str, text: str, evidence: list[str] | None = None) -> None:
        self.add(Outcome(env, flow, "ok", text, evidence or []))

    def fail(self, env: str, flow: str, text: str, evidence: list[str] | None = None) -> None:
        self.add(Outcome(env, flow, "failed", text, evidence or []))

    def check(self, passed: bool, env: str, flow: str, good: str, bad: str, evidence: list[str] | None = None) -> bool:
        if passed:
            self.ok(env, flow, good)
        else:
            self.fail(env, flow, bad, evidence)
        return passed

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "failed"]

    def summary(self) -> str:
        passed = sum(o.state == "ok" for o in self.outcomes)
        seconds = time.monotonic() - self.started
        return f"rehearsal: {passed} passed, {len(self.failed)} failed in {seconds:.0f} s"


def write_log(folder: Path, entries: list[LogEntry]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "requests.jsonl").open("w") as out:
        for entry in entries:
            out.write(json.dumps(entry.as_json()) + "\n")
    with (folder / "requests.txt").open("w") as out:
        for entry in entries:
            verdicts = "; ".join(check.line() for check in entry.checks) or "no permission checked"
            out.write(
                f"{entry.status} {entry.method} as {entry.caller}: {verdicts}"
                f"{' - ' + entry.note if entry.note else ''}\n"
            )


def decisive(entries: list[LogEntry]) -> str | None:
    """The request that decided a failure: a refusal for a missing grant, else a refused call past the seam,
    else the first other error (412, 400, a stand-in failure); 404s of existence checks are not decisive."""

    def rank(entry: LogEntry) -> int:
        if any(not c.allowed for c in entry.checks):
            return 0
        if tolerated_bypass(entry):
            return 9
        if "past the seam" in entry.method and entry.status >= 400:
            return 1
        if entry.status >= 400 and entry.status not in (404, 416):  # existence checks, reads past an object's end
            return 2
        return 9

    candidates = sorted((rank(e), i) for i, e in enumerate(entries) if rank(e) < 9)
    if not candidates:
        return None
    entry = entries[candidates[0][1]]
    denied = next((c for c in entry.checks if not c.allowed), None)
    if denied is not None:
        return f"{entry.status} {entry.method} as {entry.caller}: {denied.permission} on {denied.resource}: no grant"
    return f"{entry.status} {entry.method} as {entry.caller}{': ' + entry.note if entry.note else ''}"


def tolerated_bypass(entry: LogEntry) -> bool:
    """google-auth's own best-effort lookup of a service account's allowed locations (trust boundary)."""
    return entry.api == "iamcredentials.googleapis.com" and "allowedLocations" in entry.path
