"""Run the training pipeline on a local environment and print its summary.

    python -m pipelines.local_runner [--env local] [--num-epochs N] [--learning-rate LR]
                                     [--span-start S --span-end E] [--local-root DIR] [--no-cache]

Exit status: 0 the run completed (blessed or not, the summary says), 1 the run failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, add_pipeline_argument, load_pipeline_environment
from contracts.environment import EnvironmentConfig
from contracts.parameters import LEARNING_RATE, NUM_EPOCHS, validate_span_range


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipelines.local_runner", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="environment name (envs/<name>.yaml) or file path")
    add_pipeline_argument(parser)
    parser.add_argument("--num-epochs", type=int, help="default: the environment's training.num_epochs")
    parser.add_argument("--learning-rate", type=float, help="default: the environment's training.learning_rate")
    parser.add_argument(
        "--span-start", type=int, default=0, help="first data span (default 0..0: the newest training.window_spans)"
    )
    parser.add_argument("--span-end", type=int, default=0, help="last data span, inclusive (0: see --span-start)")
    parser.add_argument("--local-root", type=Path, help="state folder (default: the environment's local.root)")
    parser.add_argument("--no-cache", action="store_true", help="rerun every component")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_from_args(argv)[0]


def run_from_args(
    argv: list[str] | None = None,
    labels: dict[str, str] | Callable[[EnvironmentConfig], dict[str, str]] | None = None,
) -> tuple[int, Any, Any]:
    """(exit status, the LocalRun, its RunSummary), the last two None if it did not start.

    `labels`: the run's lineage labels (commit, modules, source), which the caller knows and pipelines/ does not;
    or a function of the environment that gives them (the modules hash is the environment's pipeline's).
    """
    args = _parse(argv)
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
        if config.backend != "local":
            raise ConfigError(f"environment '{config.name}' uses backend '{config.backend}'; this runner is local")
        num_epochs = NUM_EPOCHS.validate(config.training.num_epochs if args.num_epochs is None else args.num_epochs)
        learning_rate = LEARNING_RATE.validate(
            config.training.learning_rate if args.learning_rate is None else args.learning_rate
        )
        span_start, span_end = validate_span_range(args.span_start, args.span_end)
        if callable(labels):
            labels = labels(config)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2, None, None

    # TensorFlow reads these at import; they must be set before the heavy imports below.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    from pipelines.local import LocalRun, execute
    from pipelines.summary import render

    run = LocalRun(
        config=config,
        paths=config.local_paths(args.local_root),
        num_epochs=num_epochs,
        learning_rate=learning_rate,
        enable_cache=not args.no_cache,
        span_start=span_start,
        span_end=span_end,
        labels=dict(labels or {}),
    )
    print(f"pipeline {config.pipeline_name}: local root {run.paths.root}", flush=True)
    summary = execute(run)
    print(render(summary), flush=True)
    return (0 if summary.succeeded else 1), run, summary


if __name__ == "__main__":
    sys.exit(main())
