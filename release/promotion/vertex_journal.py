"""The Vertex alias history: per move a pair of create-only objects, the claim and its outcome.

Vertex keeps only the current aliases, so the history lives in the artifacts bucket. A mover first claims the
next sequence number, history/<sequence>.json (create-only: two movers cannot take the same number, so the
history has one order), then moves the endpoint and the alias, and only then writes the outcome,
history/<sequence>.outcome.json: `committed` with what the move did, or `aborted` with the reason. Only
committed moves are the history, so it never records a move that did not happen. Every object is written
once, so the movers need to create objects, never to overwrite or delete them. A claim left without an
outcome by a crashed mover is settled by the next mover once it is older than any move can take:
committed if the alias did move, else aborted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from contracts.registry import AliasMove, RegistryError

State = Literal["pending", "committed", "aborted"]


# The outcome object beside each claim: history/<sequence>.outcome.json.
OUTCOME = ".outcome.json"


@dataclass(frozen=True)
class Entry:
    sequence: int
    state: State
    move: AliasMove
    error: str | None = None


class AliasHistory:
    def __init__(self, bucket: Any, prefix: str, stale_after: timedelta) -> None:
        self.bucket = bucket
        self.prefix = prefix.rstrip("/")
        self.stale_after = stale_after

    def entries(self) -> list[Entry]:
        blobs = {b.name: b for b in self.bucket.list_blobs(prefix=f"{self.prefix}/")}
        claims = sorted(name for name in blobs if name.endswith(".json") and not name.endswith(OUTCOME))
        return [self._entry(blobs[name], blobs.get(name.removesuffix(".json") + OUTCOME)) for name in claims]

    def committed(self) -> list[AliasMove]:
        return [e.move for e in self.entries() if e.state == "committed"]

    def claim(self, move: AliasMove, alias_now: str | None) -> Entry:
        """The next sequence number, claimed for `move`. Raises RegistryError if another move holds it."""
        entries = self.entries()
        if entries and entries[-1].state == "pending":
            self._settle(entries[-1], alias_now)
        sequence = len(entries) + 1
        self._create(self._name(sequence), {"state": "pending", "move": _json(move)}, move)
        return Entry(sequence, "pending", move)

    def finish(self, entry: Entry, state: State, *, move: AliasMove | None = None, error: str | None = None) -> None:
        """Write the outcome of a claimed move (once: a second outcome for the same claim is refused)."""
        done = move or entry.move
        record = {"state": state, "move": _json(done), "error": error}
        self._create(self._name(entry.sequence).removesuffix(".json") + OUTCOME, record, done)

    def _create(self, name: str, record: dict[str, Any], move: AliasMove) -> None:
        from google.api_core import exceptions

        body = json.dumps(record, sort_keys=True)
        try:
            self.bucket.blob(name).upload_from_string(body, if_generation_match=0, content_type="application/json")
        except exceptions.PreconditionFailed as err:
            raise RegistryError(f"another move of {move.alias} was recorded first; nothing changed, retry") from err

    def _settle(self, entry: Entry, alias_now: str | None) -> None:
        age = datetime.now(timezone.utc) - datetime.fromisoformat(entry.move.at)
        if age < self.stale_after:
            raise RegistryError(
                f"move {entry.sequence} of {entry.move.alias} to version {entry.move.to_version} is in progress "
                f"(started {entry.move.at}); retry when it is done"
            )
        if alias_now == entry.move.to_version:
            self.finish(entry, "committed", error="settled by the next move: its mover stopped after the alias moved")
        else:
            self.finish(entry, "aborted", error="settled by the next move: its mover stopped before the alias moved")

    def _name(self, sequence: int) -> str:
        return f"{self.prefix}/{sequence:08d}.json"

    @staticmethod
    def _entry(claim: Any, outcome: Any) -> Entry:
        sequence = int(claim.name.rsplit("/", 1)[-1].removesuffix(".json"))
        record = json.loads(claim.download_as_bytes())
        if "state" not in record:
            # Written before claims had outcomes: each was a move that happened.
            return Entry(sequence, "committed", AliasMove.model_validate(record))
        if outcome is None:
            return Entry(sequence, "pending", AliasMove.model_validate(record["move"]))
        done = json.loads(outcome.download_as_bytes())
        return Entry(sequence, done["state"], AliasMove.model_validate(done["move"]), done["error"])


def _json(move: AliasMove) -> dict[str, Any]:
    return json.loads(move.model_dump_json())
