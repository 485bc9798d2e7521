"""The local prediction server: the stand-in for a Vertex AI endpoint, serving each pipeline's champion.

    python -m localcloud.serving [--env local] [--pipeline NAME] [--local-root DIR] [--port 8080] [--poll-seconds 1]
                                 [--no-log | --log-sample-rate RATE] [--log-root DIR]

    POST /v1/models/<pipeline>:predict   {"instances": [{"island": "Biscoe", "bill_length_mm": 45.3, ...}]}
      -> {"predictions": [{"species": "Gentoo", "probabilities": [...]}], "model_version": "3"}
    GET  /v1/models/<pipeline>           -> {"model_version": "3", "batching": {"batches": 9, "instances": 12},
                                             "logging": {"logged": 12, "dropped": 0, "sampled_out": 0, "failed": 0}}

One server on one port serves the champion of every pipeline of the environment (or of --pipeline alone),
each at /v1/models/<pipeline> (e.g. /v1/models/diabetes:predict -> {"predictions": [{"progression": 151.3}]})
and at /v1/models/<pipeline>-<env> as well (its registered model's name, the route its Vertex endpoint has).
An unknown model gets a 404 naming the ones there are.

The HTTP layer and the micro-batching (one batcher per model) are the image's serving/ package (the same code a
Vertex endpoint runs); this adds each pipeline's champion, followed as it moves (localcloud/champion.py).
Loopback only. A request it cannot serve gets a 4xx naming the problem; 503 only while that pipeline has no
champion.

Each pipeline's requests and answers are logged, a sample of them (its `monitoring.log_sample_rate`, 1.0 by
default: all), to its prediction log under the local root, <local root>/predictions/<pipeline>/ (the format:
contracts/prediction_log.py), which `nox -s monitor` reads: serving and then monitoring needs no setting. The
startup lines say where each pipeline logs. `--no-log` logs nothing; `--log-sample-rate` sets every served
pipeline's rate; `--log-root DIR` logs to DIR/<pipeline>/ instead (the benchmark's requests, kept out of the
monitor's input). The log is written off the request path (serving/prediction_log.py) and drained on shutdown
(Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, load_environment
from contracts.registry import CANDIDATE, registry_target


def routes(config: Any) -> tuple[str, ...]:
    """The names `config`'s pipeline answers at, /v1/models/<name>: the pipeline's, and its model's."""
    return (f"/v1/models/{config.dataset}", f"/v1/models/{config.pipeline_name}")


class Champions:
    """The champion watcher of each pipeline served, and its prediction logger if it logs, by pipeline name."""

    def __init__(self, watchers: dict[str, Any], loggers: dict[str, Any] | None = None) -> None:
        self.watchers = watchers
        self.loggers = loggers if loggers is not None else {}
        # Each pipeline's candidate watcher: a running canary's version and share (release/promotion/canary.py).
        self.candidates: dict[str, Any] = {}

    def stop(self) -> None:
        """Stop following the champions, and write out and close the logs (after the server has closed)."""
        for watcher in [*self.watchers.values(), *self.candidates.values()]:
            watcher.stop()
        for logger in self.loggers.values():
            logger.close()


def canary_of(champion: Any, candidate: Any) -> tuple[Any, int] | None:
    """The running canary a pipeline's requests are split with: the candidate's loaded version and its share,
    while it is not the champion (a promoted or rolled-back canary's alias names the champion: no split)."""
    serving, percent, current = candidate.current, candidate.percent, champion.current
    if serving is None or not percent or current is None or serving.version == current.version:
        return None
    return serving, percent


def make_server(
    config: Any,
    local_root: Path | None,
    port: int,
    poll_seconds: float = 1.0,
    pipelines: Sequence[str] = (),
    *,
    log_sample_rate: float | None = None,
    log_root: Path | None = None,
) -> tuple[Any, Champions]:
    """A server bound to 127.0.0.1:`port` (0: any free port), not yet serving, for the champion of each of
    `pipelines` (default: every pipeline of `config`'s environment), and their watchers, started.

    Each pipeline logs a sample of its requests (`log_sample_rate`, default: its `monitoring.log_sample_rate`;
    0: no log) to its `LocalPaths.predictions` folder, or to `log_root`/<pipeline> if given.
    """
    from components.registry import open_registry
    from localcloud.champion import ChampionWatcher
    from serving.http import Endpoint, PredictionServer
    from serving.prediction_log import PredictionLogger

    served = [config.for_pipeline(name) for name in (pipelines or sorted(config.pipelines))]
    if config.gcp is not None:
        raise ConfigError(f"environment '{config.name}' serves from Vertex AI endpoints; this server is local")
    champions = Champions({})
    endpoints = []
    try:
        for each in served:
            registry = open_registry(registry_target(each, local_root))
            watcher = ChampionWatcher(registry, poll_seconds)
            watcher.start()
            champions.watchers[each.dataset] = watcher
            candidate = ChampionWatcher(registry, poll_seconds, alias=CANDIDATE)
            candidate.start()
            champions.candidates[each.dataset] = candidate
            rate = each.monitoring.log_sample_rate if log_sample_rate is None else log_sample_rate
            logger = None
            if rate > 0:
                folder = log_root / each.dataset if log_root else each.local_paths(local_root).predictions(each.dataset)
                logger = champions.loggers[each.dataset] = PredictionLogger(folder, rate)
            names = routes(each)
            endpoints.append(
                Endpoint(
                    lambda watcher=watcher: watcher.current,
                    predict=tuple(f"{name}:predict" for name in names),
                    status=names,
                    unavailable=f"no champion of {each.dataset} yet: promote a version first",
                    logger=logger,
                    candidate=lambda watcher=watcher, candidate=candidate: canary_of(watcher, candidate),
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
    logging = parser.add_mutually_exclusive_group()
    logging.add_argument("--no-log", action="store_true", help="log no requests (default: each pipeline's sample)")
    logging.add_argument(
        "--log-sample-rate", type=float, help="log this share (0..1) of every pipeline's requests (default: its own)"
    )
    parser.add_argument("--log-root", type=Path, help="log to DIR/<pipeline> (default: <local root>/predictions)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    rate = 0.0 if args.no_log else args.log_sample_rate
    try:
        config = load_environment(args.env, args.pipeline)
        if not 0 <= args.port <= 65535 or args.poll_seconds <= 0:
            raise ConfigError(f"--port {args.port} / --poll-seconds {args.poll_seconds}: out of range")
        if rate is not None and not 0 <= rate <= 1:
            raise ConfigError(f"--log-sample-rate {rate}: a share of requests, 0..1")
        pipelines = [args.pipeline] if args.pipeline else []
        server, champions = make_server(
            config,
            args.local_root,
            args.port,
            args.poll_seconds,
            pipelines,
            log_sample_rate=rate,
            log_root=args.log_root,
        )
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
        logger = champions.loggers.get(pipeline)
        if logger is None:
            print(f"  not logging {pipeline}'s requests", flush=True)
        else:
            print(f"  logging {logger.rate * 100:g}% of {pipeline}'s requests to {logger.folder}", flush=True)
    # SIGTERM (a supervisor's, the benchmark's) stops the server as Ctrl-C does, so the logs are written out.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        champions.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
