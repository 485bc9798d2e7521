"""The Vertex move journal: create-only GCS objects beside the registry (Vertex keeps only the current aliases).

    <history>/<sequence>.json                   the claim: the move's intent (pending), create-only, so two
                                                movers cannot take the same number and the history has one order
    <history>/<sequence>.outcome.json           its outcome: committed (with what serving did) or aborted
    <history>/moves/<sequence>/lease-<n>.json   the mover's lease, renewed while it works (a new object each time)
    <history>/moves/<sequence>/deploy.json      the deploy's long-running operation, once it was started
    <history>/moves/<sequence>/released.json    the mover stopped without an outcome: settle it now

Every object is written once, so the movers need to create objects, never to overwrite or delete them. A claim
without an outcome belongs to a mover that is alive while its lease is renewed; once the lease runs out (or
the mover released it), the next command settles the claim. Lease times are the movers' clocks (Cloud Build
and workstations keep NTP time; the lease is minutes long, so seconds of skew do not matter).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from contracts.registry import AliasMove, RegistryError
from release.promotion.journal import STATES, Entry, State

OUTCOME = ".outcome.json"
# How often a working mover renews its lease, and how long a lease lasts without renewal.
RENEW_SECONDS = 20.0
LEASE_SECONDS = 90.0


class MoveInProgressError(RegistryError):
    """Another mover holds a live lease on a pending move: nothing changed, retry when it is done."""


class LeaseLostError(RegistryError):
    """This mover could not renew its lease (or its claim was settled by another): it must not commit."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class VertexJournal:
    def __init__(
        self, bucket: Any, prefix: str, *, lease_seconds: float = LEASE_SECONDS, clock: Callable[[], datetime] = _now
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.rstrip("/")
        self.lease_seconds = lease_seconds
        self.clock = clock

    def entries(self) -> list[Entry]:
        # Only this level (delimiter): the moves/ objects of each claim are listed when one needs settling.
        blobs = {b.name: b for b in self.bucket.list_blobs(prefix=f"{self.prefix}/", delimiter="/")}
        claims = sorted(name for name in blobs if name.endswith(".json") and not name.endswith(OUTCOME))
        return [self._entry(blobs[name], blobs.get(name.removesuffix(".json") + OUTCOME)) for name in claims]

    def claim(self, move: AliasMove, sequence: int) -> Lease:
        """Claim `sequence` for `move` (create-only) and hold its lease. Raises if another mover took it first."""
        mover = uuid.uuid4().hex
        self._create(self._name(sequence), {"state": "pending", "move": _json(move), "mover": mover}, move.alias)
        return Lease(self, Entry(sequence, "pending", move), renew_seconds=RENEW_SECONDS)

    def finish(self, entry: Entry, state: State, move: AliasMove | None = None, note: str | None = None) -> Entry:
        """Write the outcome of a claimed move (once: a second outcome for the same claim is refused)."""
        done = move or entry.move
        record = {"state": state, "move": _json(done), "note": note}
        self._create(self._name(entry.sequence).removesuffix(".json") + OUTCOME, record, done.alias)
        return Entry(entry.sequence, state, done, note)

    def note_operation(self, sequence: int, operation: str, version: str) -> None:
        self._put(f"{self._moves(sequence)}/deploy.json", {"operation": operation, "version": version})

    def operation(self, sequence: int) -> str | None:
        """The deploy operation the move with `sequence` started, if it got that far."""
        from google.api_core import exceptions

        try:
            data = self.bucket.blob(f"{self._moves(sequence)}/deploy.json").download_as_bytes()
        except exceptions.NotFound:
            return None
        return str(json.loads(data)["operation"])

    def release(self, sequence: int, why: str) -> None:
        """Say the mover stopped without an outcome, so the next command settles the move without waiting."""
        self._put(f"{self._moves(sequence)}/released.json", {"at": self.clock().isoformat(), "why": why})

    def renew(self, sequence: int, count: int) -> None:
        self._put(f"{self._moves(sequence)}/lease-{count:06d}.json", {"at": self.clock().isoformat()})

    def lease_left(self, entry: Entry) -> float:
        """Seconds until the pending move's lease runs out (0: its mover is gone or released it)."""
        newest = datetime.fromisoformat(entry.move.at)
        for blob in self.bucket.list_blobs(prefix=f"{self._moves(entry.sequence)}/"):
            name = blob.name.rsplit("/", 1)[-1]
            if name == "released.json":
                return 0.0
            if name.startswith("lease-"):
                newest = max(newest, datetime.fromisoformat(json.loads(blob.download_as_bytes())["at"]))
        return max(0.0, self.lease_seconds - (self.clock() - newest).total_seconds())

    def has_outcome(self, sequence: int) -> bool:
        return bool(self.bucket.blob(self._name(sequence).removesuffix(".json") + OUTCOME).exists())

    def _put(self, name: str, record: dict[str, Any]) -> None:
        from google.api_core import exceptions

        with contextlib.suppress(exceptions.PreconditionFailed):  # Written once already: the first one stands.
            self.bucket.blob(name).upload_from_string(
                json.dumps(record, sort_keys=True), if_generation_match=0, content_type="application/json"
            )

    def _create(self, name: str, record: dict[str, Any], alias: str) -> None:
        from google.api_core import exceptions

        body = json.dumps(record, sort_keys=True)
        try:
            self.bucket.blob(name).upload_from_string(body, if_generation_match=0, content_type="application/json")
        except exceptions.PreconditionFailed as err:
            raise RegistryError(f"another move of {alias} was recorded first; nothing changed, retry") from err

    def _name(self, sequence: int) -> str:
        return f"{self.prefix}/{sequence:08d}.json"

    def _moves(self, sequence: int) -> str:
        return f"{self.prefix}/moves/{sequence:08d}"

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
        state: State = done["state"]
        if state not in STATES:
            raise RegistryError(f"{outcome.name}: unknown state {state!r}")
        # Outcomes written before notes called it "error".
        return Entry(sequence, state, AliasMove.model_validate(done["move"]), done.get("note", done.get("error")))


class Lease:
    """A claimed move's lease: `keep()` renews it when due and stops the mover if it was lost.

    Called at every step and while waiting for long operations (a deploy polls), so a live mover never lets it
    run out, and a mover that cannot renew (or whose claim another settled) stops before its commit point.
    """

    def __init__(
        self,
        journal: VertexJournal,
        entry: Entry,
        *,
        renew_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal, self.entry = journal, entry
        self.renew_seconds = renew_seconds
        self._monotonic = monotonic
        self._renewed = monotonic()
        self._count = 0

    def keep(self) -> None:
        elapsed = self._monotonic() - self._renewed
        if elapsed < self.renew_seconds:
            return
        if elapsed >= self.journal.lease_seconds - self.renew_seconds / 2:
            raise LeaseLostError(f"move {self.entry.sequence}: its lease was not renewed for {elapsed:.0f} s")
        try:
            settled = self.journal.has_outcome(self.entry.sequence)
            if not settled:
                self.journal.renew(self.entry.sequence, self._count + 1)
        except Exception:  # A failed renewal is retried at the next step; the check above stops a lost lease.
            return
        if settled:
            raise LeaseLostError(f"move {self.entry.sequence} was settled by another command meanwhile")
        self._count += 1
        self._renewed = self._monotonic()


def _json(move: AliasMove) -> dict[str, Any]:
    return dict(json.loads(move.model_dump_json()))
