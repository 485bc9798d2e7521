"""The Vertex alias history: one create-only object per move, history/<sequence>.json, claimed then finalised.

Vertex keeps only the current aliases, so the history lives in the artifacts bucket. A mover first claims the
next sequence number with a `pending` entry (create-only: two movers cannot take the same number, so the
history has one order), then moves the alias (and the endpoint), and only then finalises the entry as
`committed`; if the move fails the entry becomes `aborted` with the reason. Only committed entries are the
history, so it never records a move that did not happen. A pending entry left by a crashed mover is settled
by the next mover once it is older than any move can take: committed if the alias did move, else aborted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from contracts.registry import AliasMove, RegistryError

State = Literal["pending", "committed", "aborted"]


@dataclass(frozen=True)
class Entry:
    sequence: int
    state: State
    move: AliasMove
    generation: int
    error: str | None = None


class AliasHistory:
    def __init__(self, bucket: Any, prefix: str, stale_after: timedelta) -> None:
        self.bucket = bucket
        self.prefix = prefix.rstrip("/")
        self.stale_after = stale_after

    def entries(self) -> list[Entry]:
        blobs = sorted(self.bucket.list_blobs(prefix=f"{self.prefix}/"), key=lambda b: b.name)
        return [self._entry(b) for b in blobs if b.name.endswith(".json")]

    def committed(self) -> list[AliasMove]:
        return [e.move for e in self.entries() if e.state == "committed"]

    def claim(self, move: AliasMove, alias_now: str | None) -> Entry:
        """The next sequence number, as a pending entry of `move`. Raises RegistryError if another move holds it."""
        from google.api_core import exceptions

        entries = self.entries()
        if entries and entries[-1].state == "pending":
            self._settle(entries[-1], alias_now)
        sequence = len(entries) + 1
        blob = self.bucket.blob(self._name(sequence))
        try:
            blob.upload_from_string(_body("pending", move), if_generation_match=0, content_type="application/json")
        except exceptions.PreconditionFailed as err:
            raise RegistryError(f"another move of {move.alias} was recorded first; nothing changed, retry") from err
        return Entry(sequence, "pending", move, int(blob.generation))

    def finish(self, entry: Entry, state: State, *, move: AliasMove | None = None, error: str | None = None) -> None:
        """Finalise a claimed entry (only if it is still the pending object this mover wrote)."""
        blob = self.bucket.blob(self._name(entry.sequence))
        blob.upload_from_string(
            _body(state, move or entry.move, error),
            if_generation_match=entry.generation,
            content_type="application/json",
        )

    def _settle(self, entry: Entry, alias_now: str | None) -> None:
        age = datetime.now(timezone.utc) - datetime.fromisoformat(entry.move.at)
        if age < self.stale_after:
            raise RegistryError(
                f"move {entry.sequence} of {entry.move.alias} to version {entry.move.to_version} is in progress "
                f"(started {entry.move.at}); retry when it is done"
            )
        if alias_now == entry.move.to_version:
            self.finish(entry, "committed", error="finalised by the next move: the mover stopped after moving")
        else:
            self.finish(entry, "aborted", error="the mover stopped before the alias moved")

    def _name(self, sequence: int) -> str:
        return f"{self.prefix}/{sequence:08d}.json"

    @staticmethod
    def _entry(blob: Any) -> Entry:
        sequence = int(blob.name.rsplit("/", 1)[-1].removesuffix(".json"))
        generation = int(blob.generation)  # The listed one: the version this mover read.
        record = json.loads(blob.download_as_bytes(if_generation_match=generation))
        if "state" not in record:
            # Written before entries had states: each was a move that happened.
            return Entry(sequence, "committed", AliasMove.model_validate(record), generation)
        move = AliasMove.model_validate(record["move"])
        return Entry(sequence, record["state"], move, generation, record["error"])


def _body(state: State, move: AliasMove, error: str | None = None) -> str:
    return json.dumps({"state": state, "move": json.loads(move.model_dump_json()), "error": error}, sort_keys=True)
