"""The local prediction server: the stand-in for a Vertex AI endpoint, serving each pipeline's champion.

    python -m localcloud.serving [--env local] [--pipeline NAME] [--local-root DIR] [--port 8080] [--poll-seconds 1]

    POST /v1/models/<pipeline>:predict   {"instances": [{"island": "Biscoe", "bill_length_mm": 45.3, ...}]}
      -> {"predictions": [{"species": "Gentoo", "probabilities": [...]}], "model_version": "3"}
    GET  /v1/models/<pipeline>           -> {"model_version": "3", "batching": {"batches": 9, "instances": 12}}

One server on one port serves the champion of every pipeline of the environment (or of --pipeline alone),
each at /v1/models/<pipeline> (e.g. /v1/models/diabetes:predict -> {"predictions": [{"progression": 151.3}]})
and at /v1/models/<pipeline>-<env> as well (its registered model's name, the route its Vertex endpoint has).
An unknown model gets a 404 naming the ones there are.

The HTTP layer and the micro-batching (one batcher per model) are the image's serving/ package (the same code a
Vertex endpoint runs); this adds each pipeline's champion, followed as it moves (localcloud/champion.py).
Loopback only. A request it cannot serve gets a 4xx naming the problem; 503 only while that pipeline has no
champion.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, load_environment
from contracts.registry import registry_target


def routes(config: Any) -> tuple[str, ...]:
    """The names `config`'s pipeline answers at, /v1/models/<name>: the pipeline's, and its model's."""
    return (f"/v1/models/{config.dataset}", f"/v1/models/{config.pipeline_name}")


class Champions:
    """The champion watcher of each pipeline served, by pipeline name."""

    def __init__(self, watchers: dict[str, Any]) -> None:
        self.watchers = watchers

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()


def make_server(
    config: Any, local_root: Path | None, port: int, poll_seconds: float = 1.0, pipelines: Sequence[str] = ()
) -> tuple[Any, Champions]:
    """A server bound to 127.0.0.1:`port` (0: any free port), not yet serving, for the champion of each of
    `pipelines` (default: every pipeline of `config`'s environment), and their watchers, started."""
    from components.registry import open_registry
    from localcloud.champion import ChampionWatcher
    from serving.http import Endpoint, PredictionServer

    served = [config.for_pipeline(name) for name in (pipelines or sorted(config.pipelines))]
    if config.gcp is not None:
        raise ConfigError(f"environment '{config.name}' serves from Vertex AI endpoints; this server is local")
    champions = Champions({})
    endpoints = []
    try:
        for each in served:
            watcher = ChampionWatcher(open_registry(registry_target(each, local_root)), poll_seconds)
            watcher.start()
            champions.watchers[each.dataset] = watcher
            names = routes(each)
            endpoints.append(
                Endpoint(
                    lambda watcher=watcher: watcher.current,
                    predict=tuple(f"{name}:predict" for name in names),
                    status=names,
                    unavailable=f"no champion of {each.dataset} yet: promote a version first",
                )
            )
        known = ", ".join(each.dataset for each in served)
        not_found = f"the models here: {known} (POST /v1/models/<pipeline>:predict)"
        return PredictionServer(("127.0.0.1", port), endpoints, not_found=not_found), champions
    except BaseException:
        champions.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--pipeline", help="serve this pipeline's champion only (default: every pipeline's)")
    parser.add_argument("--local-root", type=Path)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new champion")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        config = load_environment(args.env, args.pipeline)
        if not 0 <= args.port <= 65535 or args.poll_seconds <= 0:
            raise ConfigError(f"--port {args.port} / --poll-seconds {args.poll_seconds}: out of range")
        pipelines = [args.pipeline] if args.pipeline else []
        server, champions = make_server(config, args.local_root, args.port, args.poll_seconds, pipelines)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    for pipeline, watcher in champions.watchers.items():
        serving = watcher.current
        print(
            f"serving {pipeline} on http://{host}:{port}/v1/models/{pipeline}:predict "
            f"(champion: {serving.version if serving else 'none yet'})",
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        champions.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
