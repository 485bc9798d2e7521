"""A move on the local registry (MLflow on SQLite), one transaction under the registry's file lock.

    intent    the journal's pending record, fsynced
    pointer   aliases/<alias>.json (in the model's folder) replaced: the local server starts serving it
    alias     MLflow's alias moved (compare-and-set: it must still be on the move's from_version): the commit point
    outcome   the journal's committed record, fsynced

The pointer goes before the alias so that the server loads the new version while this process imports MLflow
(seconds); on Vertex the endpoint's traffic likewise moves before the alias. A move that stops anywhere is
settled under the same lock by the next command: committed if MLflow's alias had moved, else aborted, and the
pointer is put back where the alias is. The lock is an flock: a killed mover releases it, so a pending record
seen under the lock always belongs to a mover that is gone. Each registered model (one per pipeline) has its
own journal and pointers (release/promotion/local_journal.py); the lock is the registry's, shared by all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.registry import CANDIDATE, CHAMPION, AliasMove, RegistryError
from release.promotion.journal import Entry, StepHook, committed, no_hook, outcome
from release.promotion.local_journal import LocalJournal, adopt_root_files, root_files


class LocalMover:
    def __init__(self, registry: Any, after_step: StepHook = no_hook) -> None:
        if registry.target.backend != "mlflow" or not registry.target.root:
            raise RegistryError(f"{registry.target.model_name}: the local mover needs the local (mlflow) registry")
        self.registry = registry
        self.journal = LocalJournal(Path(registry.target.root), registry.target.model_name)
        self._after = after_step

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self.registry.locked():
            self._adopt_root_files()
            yield

    def _adopt_root_files(self) -> None:
        """A registry from before per-model folders: its root's journal, pointers and outcomes were its one
        model's; they become this model's when the registry holds it alone (a stat when there are none)."""
        root = Path(self.registry.target.root)
        if not root_files(root):
            return
        names = [model.name for model in self.registry.client().search_registered_models()]
        if names == [self.registry.target.model_name]:
            moved = adopt_root_files(root, self.registry.target.model_name)
            if moved:
                print(f"moved {', '.join(moved)} of {names[0]} into {self.journal.root}", file=sys.stderr)

    def entries(self) -> list[Entry]:
        return self.journal.entries()

    def current(self) -> str | None:
        """The champion from the pointer, without MLflow (the alias move checks it against MLflow's); from the
        history, or MLflow's alias where no move was recorded (an alias set outside the journal)."""
        pointed = self.journal.pointer(CHAMPION)
        if pointed is not None:
            return pointed
        history = [move for move in committed(self.entries()) if move.alias == CHAMPION]
        return history[-1].to_version if history else self.registry.alias_version(CHAMPION)

    def settle(self) -> list[Entry]:
        return [self._settle(entry) for entry in self.entries() if entry.state == "pending"]

    def apply(self, move: AliasMove) -> AliasMove:
        entry = self.journal.record(self.journal.next_sequence(), "pending", move)
        try:
            self._after("intent")
            self.journal.write_pointer(move.alias, move.to_version, move.at, move.percent)
            self._after("pointer")
            alias_now = self.registry.alias_version(move.alias)
            if alias_now != move.from_version:
                raise RegistryError(f"{move.alias} is on {alias_now} in MLflow, not {move.from_version}")
            self.registry.client().set_registered_model_alias(
                self.registry.target.model_name, move.alias, move.to_version
            )
            self._after("alias")
            self.journal.record(entry.sequence, "committed", move)
        except Exception as err:
            return self._recover(entry, err)
        self._after("outcome")
        return move

    def _recover(self, entry: Entry, err: Exception) -> AliasMove:
        """Settle a move that failed in this process: the move stands if its alias moved, else it is undone."""
        try:
            settled = self._settle(entry)
        except Exception as settling:
            raise RegistryError(
                f"moving {entry.move.alias} to {entry.move.to_version} failed ({err}), and settling it failed too "
                f"({settling}): `models repair` settles it"
            ) from err
        if settled.state == "committed":
            return entry.move
        raise RegistryError(
            f"moving {entry.move.alias} to {entry.move.to_version} failed ({err}); {settled.note}"
        ) from err

    def _settle(self, entry: Entry) -> Entry:
        alias = entry.move.alias
        alias_now = self.registry.alias_version(alias)
        state, note = outcome(entry.move, alias_now)
        percent = entry.move.percent if state == "committed" else self._percent(alias, alias_now)
        self.journal.write_pointer(alias, alias_now, _now(), percent)
        return self.journal.record(entry.sequence, state, entry.move, note)

    def _percent(self, alias: str, version: str | None) -> int | None:
        """The share the history gave `version` under `alias` (a canary's), if its last move there was one."""
        moves = [move for move in committed(self.entries()) if move.alias == alias and move.to_version == version]
        return moves[-1].percent if moves else None

    def reconcile(self) -> list[str]:
        changed = []
        for alias in (CHAMPION, CANDIDATE):
            alias_now = self.registry.alias_version(alias)
            pointed = self.journal.pointer(alias)
            if pointed == alias_now:
                continue
            self.journal.write_pointer(alias, alias_now, _now(), self._percent(alias, alias_now))
            changed.append(f"pointer {alias}: {pointed or 'none'} -> {alias_now or 'none'} (where MLflow's alias is)")
        return changed


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
