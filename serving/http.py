"""The HTTP layer both serving modes share: routes, body limits, validation errors as 4xx, one write per answer.

A server serves one model or several (`Endpoint`s: the local server, one per pipeline), each on its own paths
and with its own micro-batcher, so a batch never waits on, or mixes with, another model's requests. A request
it cannot serve gets a 4xx whose message names the problem (an unknown path: the paths, or the models, there
are); 503 only while its model is not loaded yet (the health route says the same). The model a request is
answered by is read once, so the version reported is the one that predicted, even while a new one is swapped in.

An endpoint with a `logger` (serving/prediction_log.py; the local server's) logs a sample of its requests once
each is answered: when it arrived, the version that answered, the instances as sent, and the predictions, or,
for a request refused as not matching the model's schema (400), the refusal's message. A request refused before
a model is chosen for it (an unknown path, a body that is not {"instances": ...}, 503) or that the model failed
on (422) is not a record of what the model was asked, and is not logged.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contracts.prediction_log import LoggedRequest
from serving.batching import MicroBatcher, ModelError
from serving.prediction_log import PredictionLogger

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Serving:
    """A loaded model and the version it answers as."""

    version: str
    predictor: Any  # components.registry.predictor.Predictor


@dataclass(frozen=True)
class Routes:
    predict: str  # POST
    # GET -> {"model_version": ..., "batching": {"batches": n, "instances": m}} (and "logging": {...} if it logs)
    status: str | None = None
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
    logger: PredictionLogger | None = None  # logs a sample of the requests and answers; None: no log
    # A running canary: its loaded version and its share in percent (None: none runs). That share of the
    # requests is answered by it, the rest by `current` (the local server; Vertex splits its endpoint's traffic).
    candidate: Callable[[], tuple[Serving, int] | None] | None = None

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
                status: dict[str, Any] = {"model_version": version, "batching": batching}
                if endpoint.logger is not None:
                    status["logging"] = endpoint.logger.counts()
                self._answer(HTTPStatus.OK, status)

        def _log(
            self,
            logger: PredictionLogger,
            arrived: float,
            version: str,
            instances: Any,
            predictions: list[dict[str, Any]] | None,
            error: str | None = None,
            variant: str = "champion",
        ) -> None:
            """A sampled request's record, once its answer has left: the answer never waits on the log."""
            self.wfile.flush()  # What handle_one_request does after do_POST returns, done before the record.
            latency = time.perf_counter() - arrived
            if not (isinstance(instances, list) and all(isinstance(item, dict) for item in instances)):
                instances = []  # A refusal of something that is not a list of objects: its message says what.
            record = LoggedRequest(
                time=logger.now() - timedelta(seconds=latency),  # Its arrival, on the logger's clock.
                model_version=version,
                instances=instances,
                predictions=predictions,
                error=error,
                latency_ms=round(1000 * latency, 3),
                variant=variant,
            )
            logger.put(record)

        def do_POST(self) -> None:
            arrived = time.perf_counter()  # The headers are read: the request has arrived.
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
                variant = "champion"
                canary = endpoint.candidate() if endpoint.candidate is not None else None
                if canary is not None and random.random() * 100 < canary[1]:
                    serving, variant = canary[0], "candidate"
                logger = endpoint.logger
                try:
                    predictions = batcher.predict(serving.predictor, body["instances"])
                except InputError as err:
                    # Refused as not matching the schema: logged, since the monitor counts such refusals.
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": str(err)})
                    if logger is not None and logger.sampled():
                        self._log(logger, arrived, serving.version, body["instances"], None, str(err), variant)
                    return
                except ModelError as err:
                    raise _RefusedError(HTTPStatus.UNPROCESSABLE_ENTITY, str(err)) from None
                self._answer(HTTPStatus.OK, {"predictions": predictions, "model_version": serving.version})
                if logger is not None and logger.sampled():
                    self._log(logger, arrived, serving.version, body["instances"], predictions, variant=variant)
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
