"""The Vertex AI endpoint mode: serve the one SavedModel Vertex hands the container.

    python -m serving --vertex

Reads what Vertex sets in a custom container (see "Custom container requirements for inference" in the
Vertex AI docs): AIP_STORAGE_URI (the model's folder, gs:// or local: a gs:// one is downloaded first, through
google-cloud-storage, by components/registry/predictor.py),
AIP_HTTP_PORT (default 8080), AIP_PREDICT_ROUTE and AIP_HEALTH_ROUTE. It listens first and loads the model
in the background: the health route answers 503 until the model is loaded, then 200, so Vertex routes
traffic only to a ready replica. `model_version` in answers is AIP_DEPLOYED_MODEL_ID (Vertex's own response
carries the registry version as model_version_id) unless --model-version names it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from serving.http import PredictionServer, Routes, Serving

DEFAULT_PORT = 8080


class VertexConfigError(ValueError):
    """The container's environment is not what Vertex sets; the message names the variable."""


@dataclass(frozen=True)
class VertexSettings:
    storage_uri: str
    port: int
    routes: Routes
    model_version: str


def settings(environ: Mapping[str, str], model_version: str | None = None) -> VertexSettings:
    missing = [name for name in ("AIP_STORAGE_URI", "AIP_PREDICT_ROUTE", "AIP_HEALTH_ROUTE") if not environ.get(name)]
    if missing:
        raise VertexConfigError(f"--vertex: {', '.join(missing)} not set (Vertex AI sets them in the container)")
    port_text = environ.get("AIP_HTTP_PORT", str(DEFAULT_PORT))
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise VertexConfigError(f"AIP_HTTP_PORT={port_text!r}: expected a port number")
    for name in ("AIP_PREDICT_ROUTE", "AIP_HEALTH_ROUTE"):
        if not environ[name].startswith("/"):
            raise VertexConfigError(f"{name}={environ[name]!r}: a route starts with '/'")
    routes = Routes(
        predict=environ["AIP_PREDICT_ROUTE"],
        health=environ["AIP_HEALTH_ROUTE"],
        unavailable=f"the model at {environ['AIP_STORAGE_URI']} is still loading",
    )
    version = model_version if model_version is not None else environ.get("AIP_DEPLOYED_MODEL_ID", "")
    return VertexSettings(environ["AIP_STORAGE_URI"], int(port_text), routes, version)


class VertexModel:
    """The one model of this replica, loaded once in the background; None until then."""

    def __init__(self, storage_uri: str, version: str) -> None:
        self.storage_uri, self.version = storage_uri, version
        self.current: Serving | None = None
        self.failed: Exception | None = None
        self.loaded = threading.Event()

    def load(self) -> None:
        from components.registry.predictor import Predictor

        try:
            self.current = Serving(self.version, Predictor(self.storage_uri, self.version))
            print(f"serving the model at {self.storage_uri}", file=sys.stderr, flush=True)
        except Exception as err:  # Reported, and the process exits: Vertex restarts the replica.
            self.failed = err
        finally:
            self.loaded.set()


def make_vertex_server(config: VertexSettings, host: str = "0.0.0.0") -> tuple[PredictionServer, VertexModel]:
    """A server bound to the port, and the model loading in the background (the server answers 503 until then)."""
    model = VertexModel(config.storage_uri, config.model_version)
    server = PredictionServer((host, config.port), config.routes, lambda: model.current)
    threading.Thread(target=model.load, name="model-loader", daemon=True).start()
    return server, model


def serve(model_version: str | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        config = settings(os.environ if environ is None else environ, model_version)
        server, model = make_vertex_server(config)
    except (VertexConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"listening on port {config.port}: POST {config.routes.predict}, GET {config.routes.health}", flush=True)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        model.loaded.wait()
        if model.failed is not None:
            # A replica that cannot load its model must not report healthy forever: exit, Vertex reports it.
            print(f"error: the model at {config.storage_uri} did not load: {model.failed}", file=sys.stderr)
            return 1
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0
