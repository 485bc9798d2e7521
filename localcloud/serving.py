"""The local prediction server: the stand-in for a Vertex AI endpoint, serving the registry's champion.

    python -m localcloud.serving [--env local] [--local-root DIR] [--port 8080] [--poll-seconds 1]

    POST /v1/models/<pipeline_name>:predict   {"instances": [{"island": "Biscoe", "bill_length_mm": 45.3, ...}]}
      -> {"predictions": [{"species": "Gentoo", "probabilities": [...]}], "model_version": "3"}
    GET  /v1/models/<pipeline_name>           -> {"model_version": "3", "batching": {"batches": 9, "instances": 12}}

The HTTP layer and the micro-batching are the image's serving/ package (the same code a Vertex endpoint runs);
this adds the registry's champion, followed as it moves (localcloud/champion.py). Loopback only. A request it
cannot serve gets a 4xx naming the problem; 503 only while there is no champion.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from contracts.config import ConfigError, load_environment
from contracts.registry import registry_target


def make_server(config, local_root: Path | None, port: int, poll_seconds: float = 1.0):
    """A started champion watcher and a server bound to 127.0.0.1:`port` (0: any free port), not yet serving."""
    from components.registry import open_registry
    from localcloud.champion import ChampionWatcher
    from serving.http import PredictionServer, Routes

    target = registry_target(config, local_root)
    if target.backend != "mlflow":
        raise ConfigError(f"environment '{config.name}' serves from Vertex AI endpoints; this server is local")
    watcher = ChampionWatcher(open_registry(target), poll_seconds)
    watcher.start()
    status = f"/v1/models/{config.pipeline_name}"
    routes = Routes(predict=f"{status}:predict", status=status, unavailable="no champion yet: promote a version first")
    return PredictionServer(("127.0.0.1", port), routes, lambda: watcher.current), watcher


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
