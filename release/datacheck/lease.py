"""A lease on one GCS object: one data check at a time across machines (a flock only works on one host).

Acquire: create the object with ifGenerationMatch=0 (holder, expiry). If it exists and has expired (its
holder died without releasing), take it over by rewriting it with ifGenerationMatch=<its generation>: of two
checks that both saw it expire, exactly one succeeds. Renew between steps the same way, with our generation:
a 412 means another check took the lease over, and this one stops before its next step. Release: delete with
our generation, so a lease taken over is never deleted by the check that lost it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed  # type: ignore[import-not-found]

from contracts.run_request import BackendUnavailableError

POLL_SECONDS = 2.0


class LeaseHeldError(BackendUnavailableError):
    """Another check holds the data area's lease: run again later."""


class LeaseLostError(RuntimeError):
    """Another check took this check's lease over (it had expired): this check stops; its results stay valid."""


@dataclass
class Lease:
    blob: Any  # google.cloud.storage.Blob of the lease object
    seconds: float
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}/{uuid.uuid4().hex[:12]}")
    generation: int | None = None
    clock: Any = time.time

    def _body(self) -> str:
        expires = datetime.fromtimestamp(self.clock() + self.seconds, timezone.utc)
        return json.dumps({"holder": self.holder, "expires": expires.isoformat(timespec="seconds")})

    def _write(self, if_generation_match: int) -> None:
        self.blob.upload_from_string(
            self._body(), content_type="application/json", if_generation_match=if_generation_match
        )
        self.generation = int(self.blob.generation)

    def acquire(self, wait_seconds: float) -> None:
        """Take the lease, waiting up to `wait_seconds` for a live holder to release it."""
        deadline = self.clock() + wait_seconds
        while True:
            try:
                self._write(0)
                return
            except PreconditionFailed:
                pass
            held = self._current()
            if held is None:
                continue  # released between our create and our look: create again at once
            generation, holder, expires = held
            if expires <= self.clock():
                try:
                    self._write(generation)  # a stale lease: exactly one taker wins
                    return
                except PreconditionFailed:
                    continue
            if self.clock() >= deadline:
                raise LeaseHeldError(
                    f"{self.blob.name}: another data check ({holder}) holds the lease until "
                    f"{datetime.fromtimestamp(expires, timezone.utc).isoformat(timespec='seconds')}"
                )
            time.sleep(POLL_SECONDS)

    def _current(self) -> tuple[int, str, float] | None:
        """(generation, holder, expiry as a timestamp) of the lease as it is, or None if it went meanwhile."""
        try:
            self.blob.reload()
            generation = int(self.blob.generation)
            body = json.loads(self.blob.download_as_bytes(if_generation_match=generation))
        except (NotFound, PreconditionFailed):
            return None
        return generation, str(body["holder"]), datetime.fromisoformat(body["expires"]).timestamp()

    def renew(self) -> None:
        if self.generation is None:
            raise LeaseLostError(f"{self.blob.name}: not held")
        try:
            self._write(self.generation)
        except PreconditionFailed as err:
            self.generation = None
            raise LeaseLostError(f"{self.blob.name}: another data check took the lease over") from err

    def release(self) -> None:
        if self.generation is None:
            return
        # PreconditionFailed: taken over after expiring, the new holder's lease is not ours to delete.
        with contextlib.suppress(NotFound, PreconditionFailed):
            self.blob.delete(if_generation_match=self.generation)
        self.generation = None
