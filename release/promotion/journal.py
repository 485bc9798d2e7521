"""A move's record in the journal, and what both backends' movers do.

Every alias move is one transaction: its intent is recorded (pending) before anything changes, then serving
follows (the local pointer, or the Vertex endpoint's traffic), then the alias moves, then the outcome is
recorded (committed or aborted). The alias move is the commit point on both backends. A move that stops half
way, by an exception or because its process was killed, stays pending until the next command that moves (or
`models repair`) settles it: committed if the alias had moved, aborted if not, and serving is put back where
the alias is, so the history, the alias and what serves agree afterwards. Only committed moves are the
history: it never names a move that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from contracts.registry import AliasMove, Registry

State = Literal["pending", "committed", "aborted"]
STATES: tuple[State, ...] = ("pending", "committed", "aborted")
# Called after each step of a move with the step's name: tests stop a move there (an exception, a SIGKILL).
StepHook = Callable[[str], None]


def no_hook(step: str) -> None:
    """The default step hook: moves run straight through."""


@dataclass(frozen=True)
class Entry:
    """One move in the journal: its sequence number, where it stands, and why it ended so (if it did)."""

    sequence: int
    state: State
    move: AliasMove
    # Why it ended so: an error, or how a settled move was decided.
    note: str | None = None

    def describe(self) -> str:
        change = f"{self.move.kind} {self.move.alias} {self.move.from_version or '-'} -> {self.move.to_version}"
        why = f": {self.note}" if self.note else ""
        return f"move {self.sequence} ({change}) {self.state}{why}"


def committed(entries: list[Entry]) -> list[AliasMove]:
    """The history: the moves that happened, in order."""
    return [entry.move for entry in entries if entry.state == "committed"]


def outcome(move: AliasMove, alias_now: str | None) -> tuple[State, str]:
    """How a pending move ends, decided by the commit point alone: did the alias reach the target?"""
    if alias_now == move.to_version:
        return "committed", f"the alias had moved to {move.to_version}: rolled forward"
    where = f"still on {alias_now}" if alias_now == move.from_version else f"on {alias_now or 'no version'}"
    return "aborted", f"the alias is {where}, not {move.to_version}: rolled back"


class Mover(Protocol):
    """What moves an alias on one backend. Callers hold `locked()` around settle, the checks and apply."""

    registry: Registry

    def locked(self) -> AbstractContextManager[None]: ...

    def entries(self) -> list[Entry]: ...

    def current(self) -> str | None:
        """The champion now (after `settle`), read the cheapest way the backend allows."""
        ...

    def settle(self) -> list[Entry]:
        """Settle every pending move whose mover is gone; the entries as settled. Raises if one is in progress."""
        ...

    def apply(self, move: AliasMove) -> AliasMove:
        """Make `move` as one transaction (the alias must still be on move.from_version); the move as done."""
        ...

    def reconcile(self) -> list[str]:
        """Bring serving (the pointer, the endpoint's traffic) to where the alias is; what it changed."""
        ...
