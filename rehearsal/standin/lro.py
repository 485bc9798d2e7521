"""Long-running operations (google.longrunning.Operation), shared by the Vertex AI and Cloud Build stand-ins.

An operation's work is applied when it completes. Vertex AI's complete at the first `get` or `wait` after
they were started (the work itself is instant here: the stand-in cannot be faithful to how long an upload or
a deploy takes); Cloud Build's when their build ends. `cancel` of an operation not yet done ends it with
CANCELLED (code 1) and its work is not applied.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rehearsal.standin.errors import ApiError


@dataclass
class Operation:
    name: str
    metadata: dict[str, Any]
    # The resource whose `get` permission reads it, and whose start permission cancels it (Vertex AI's rule).
    permission_get: str
    permission_cancel: str
    target: Any
    work: Callable[[], dict[str, Any]] | None = None  # applied on completion; returns the response
    done: bool = False
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "metadata": self.metadata, "done": self.done}
        if self.error is not None:
            body["error"] = self.error
        elif self.response is not None:
            body["response"] = self.response
        return body

    def complete(self) -> None:
        if self.done or self.work is None:
            return
        try:
            self.response = self.work()
        except ApiError as err:
            self.error = {"code": _rpc_code(err.code), "message": err.message}
        self.done = True

    def fail(self, code: int, message: str) -> None:
        self.error = {"code": code, "message": message}
        self.done = True


def _rpc_code(http: int) -> int:
    return {400: 3, 403: 7, 404: 5, 409: 6, 412: 9, 500: 13, 503: 14}.get(http, 2)


@dataclass
class Operations:
    by_name: dict[str, Operation] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def start(
        self,
        parent: str,
        metadata: dict[str, Any],
        get: str,
        cancel: str,
        target: Any,
        work: Callable[[], dict[str, Any]] | None,
    ) -> Operation:
        name = f"{parent}/operations/{uuid.uuid4().int % 10**19}"
        operation = Operation(name, metadata, get, cancel, target, work)
        with self.lock:
            self.by_name[name] = operation
        return operation

    def find(self, name: str) -> Operation:
        with self.lock:
            operation = self.by_name.get(name)
        if operation is None:
            raise ApiError(404, f"Operation {name} not found.")
        return operation
