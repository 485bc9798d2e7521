"""The HTTP layer both serving modes share: routes, body limits, validation errors as 4xx, one write per answer.

A server serves one model or several (`Endpoint`s: the local server, one per pipeline), each on its own paths
and with its own micro-batcher, so a batch never waits on, or mixes with, another model's requests. A request
it cannot serve gets a 4xx whose message names the problem (an unknown path: the paths, or the models, there
are); 503 only while its model is not loaded yet (the health route says the same). The model a request is
answered by is read once, so the version reported is the one that predicted, even while a new one is swapped in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving.batching import MicroBatcher, ModelError

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Serving:
    """A loaded model and the version it answers as."""

    version: str
    predictor: Any  # components.registry.predictor.Predictor


@dataclass(frozen=True)
class Routes:
    predict: str  # POST
    status: str | None = None  # GET -> {"model_version": ..., "batching": {"batches": n, "instances": m}}
    health: str | None = None  # GET -> 200 once a model is loaded, 503 before
    unavailable: str = "no model loaded yet"  # the 503's message


@dataclass(frozen=True)
class Endpoint:
    """One model a server serves, answering on each of its paths: POST predict, GET status, GET health."""

    current: Callable[[], Serving | None]
    predict: tuple[str, ...]
    status: tuple[str, ...] = ()
    health: tuple[str, ...] = ()
    unavailable: str = "no model loaded yet"  # the 503's message

    @classmethod
    def of(cls, routes: Routes, current: Callable[[], Serving | None]) -> Endpoint:
        """One model on one set of routes (a Vertex replica's)."""
        status = (routes.status,) if routes.status else ()
        health = (routes.health,) if routes.health else ()
        return cls(current, (routes.predict,), status, health, routes.unavailable)


class _RefusedError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _handler(endpoints: Sequence[tuple[Endpoint, MicroBatcher]], not_found: str | None) -> type[BaseHTTPRequestHandler]:
    from components.registry.predictor import InputError

    posts = {path: served for served in endpoints for path in served[0].predict}
    gets = {
        path: (kind, served)
        for served in endpoints
        for kind in ("status", "health")
        for path in getattr(served[0], kind)
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # Keep-alive: senders reuse their connections.
        # Headers and body leave in one segment (handle_one_request flushes after each request), and Nagle
        # never holds a reply back waiting for the client's delayed ACK.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # One line per request would drown the console; errors are in the answers.

        def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise _RefusedError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
            if int(length) > MAX_BODY:
                raise _RefusedError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
            raw = self.rfile.read(int(length))
            try:
                return json.loads(raw)
            except (ValueError, UnicodeDecodeError) as err:
                raise _RefusedError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {err}") from None

        def do_GET(self) -> None:
            if self.path not in gets:
                hint = f" ({not_found})" if not_found else ""
                self._answer(
                    HTTPStatus.NOT_FOUND, {"error": f"unknown path {self.path}; GET serves {sorted(gets)}{hint}"}
                )
                return
            kind, (endpoint, batcher) = gets[self.path]
            serving = endpoint.current()
            if kind == "health":
                if serving is None:
                    self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": endpoint.unavailable})
                else:
                    self._answer(HTTPStatus.OK, {"status": "ready", "model_version": serving.version})
            else:
                version = serving.version if serving else None
                batching = {"batches": batcher.batches, "instances": batcher.instances}
                self._answer(HTTPStatus.OK, {"model_version": version, "batching": batching})

        def do_POST(self) -> None:
            try:
                if self.path not in posts:
                    known = not_found or f"predictions are at {', '.join(posts)}"
                    raise _RefusedError(HTTPStatus.NOT_FOUND, f"unknown path {self.path}; {known}")
                endpoint, batcher = posts[self.path]
                body = self._body()
                if not isinstance(body, dict) or "instances" not in body:
                    raise _RefusedError(HTTPStatus.BAD_REQUEST, 'expected a JSON object {"instances": [...]}')
                serving = endpoint.current()  # Read once: the version that predicts is the one reported.
                if serving is None:
                    raise _RefusedError(HTTPStatus.SERVICE_UNAVAILABLE, endpoint.unavailable)
                try:
                    predictions = batcher.predict(serving.predictor, body["instances"])
                except InputError as err:
                    raise _RefusedError(HTTPStatus.BAD_REQUEST, str(err)) from None
                except ModelError as err:
                    raise _RefusedError(HTTPStatus.UNPROCESSABLE_ENTITY, str(err)) from None
                self._answer(HTTPStatus.OK, {"predictions": predictions, "model_version": serving.version})
            except _RefusedError as refused:
                self._answer(refused.status, {"error": str(refused)})

    return Handler


# Python hands the GIL over every 5 ms by default; with a thread per connection plus the batcher, a request
# ready to answer can wait several of those. 1 ms trades a little throughput for a shorter tail (p99).
SWITCH_INTERVAL_S = 0.001


class PredictionServer(ThreadingHTTPServer):
    """A threading server (one thread per connection) that owns a micro-batcher per model it serves.

    `PredictionServer(address, routes, current)` serves one model; `PredictionServer(address, [Endpoint, ...],
    not_found=...)` several, `not_found` saying in a 404 which there are.
    """

    daemon_threads = True
    # socketserver's default listen backlog of 5 resets connections that a burst of senders opens at once.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        endpoints: Routes | Sequence[Endpoint],
        current: Callable[[], Serving | None] | None = None,
        *,
        not_found: str | None = None,
    ) -> None:
        if isinstance(endpoints, Routes):
            if current is None:
                raise ValueError("one model's routes need what it serves (current)")
            endpoints = [Endpoint.of(endpoints, current)]
        paths = [path for endpoint in endpoints for path in (*endpoint.predict, *endpoint.status, *endpoint.health)]
        if not endpoints or len(paths) != len(set(paths)):
            raise ValueError(f"a server needs at least one model, each path once: {paths}")
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # Process-wide: a serving process serves, nothing else.
        self.batchers = [MicroBatcher() for _ in endpoints]
        super().__init__(address, _handler(list(zip(endpoints, self.batchers, strict=True)), not_found))

    def server_close(self) -> None:
        super().server_close()
        for batcher in self.batchers:
            batcher.stop()
