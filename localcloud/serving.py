"""The local prediction server: the stand-in for a Vertex AI endpoint, serving the registry's champion.

    python -m localcloud.serving [--env local] [--local-root DIR] [--port 8080] [--poll-seconds 1]

    POST /v1/models/<pipeline_name>:predict   {"instances": [{"island": "Biscoe", "bill_length_mm": 45.3, ...}]}
      -> {"predictions": [{"species": "Gentoo", "probabilities": [...]}], "model_version": "3"}
    GET  /v1/models/<pipeline_name>           -> {"model_version": "3"}

Loopback only. A request it cannot serve gets a 4xx naming the problem; 503 only while there is no champion.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, load_environment
from contracts.registry import registry_target

MAX_BODY = 1 << 20


class _RefusedError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _handler(pipeline_name: str, watcher: Any) -> type[BaseHTTPRequestHandler]:
    from components.registry.predictor import InputError

    predict_path = f"/v1/models/{pipeline_name}:predict"
    status_path = f"/v1/models/{pipeline_name}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # Keep-alive: the benchmark's senders reuse their connections.

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
            serving = watcher.current
            if self.path != status_path:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"unknown path {self.path}; try {status_path}"})
            else:
                self._answer(HTTPStatus.OK, {"model_version": serving.version if serving else None})

        def do_POST(self) -> None:
            try:
                if self.path != predict_path:
                    raise _RefusedError(
                        HTTPStatus.NOT_FOUND, f"unknown path {self.path}; predictions are at {predict_path}"
                    )
                body = self._body()
                if not isinstance(body, dict) or "instances" not in body:
                    raise _RefusedError(HTTPStatus.BAD_REQUEST, 'expected a JSON object {"instances": [...]}')
                serving = watcher.current  # Read once: the version that predicts is the one reported.
                if serving is None:
                    raise _RefusedError(HTTPStatus.SERVICE_UNAVAILABLE, "no champion yet: promote a version first")
                try:
                    predictions = serving.predictor.predict(body["instances"])
                except InputError as err:
                    raise _RefusedError(HTTPStatus.BAD_REQUEST, str(err)) from None
                self._answer(HTTPStatus.OK, {"predictions": predictions, "model_version": serving.version})
            except _RefusedError as refused:
                self._answer(refused.status, {"error": str(refused)})

    return Handler


def make_server(config, local_root: Path | None, port: int, poll_seconds: float = 1.0):
    """A started champion watcher and a server bound to 127.0.0.1:`port` (0: any free port), not yet serving."""
    from components.registry import open_registry
    from localcloud.champion import ChampionWatcher

    target = registry_target(config, local_root)
    if target.backend != "mlflow":
        raise ConfigError(f"environment '{config.name}' serves from Vertex AI endpoints; this server is local")
    watcher = ChampionWatcher(open_registry(target), poll_seconds)
    watcher.start()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(config.pipeline_name, watcher))
    server.daemon_threads = True
    return server, watcher


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new champion")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        config = load_environment(args.env)
        if not 0 <= args.port <= 65535 or args.poll_seconds <= 0:
            raise ConfigError(f"--port {args.port} / --poll-seconds {args.poll_seconds}: out of range")
        server, watcher = make_server(config, args.local_root, args.port, args.poll_seconds)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    serving = watcher.current
    print(
        f"serving {config.pipeline_name} on http://{host}:{port}/v1/models/{config.pipeline_name}:predict "
        f"(champion: {serving.version if serving else 'none yet'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        watcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
