"""Build the app: one EnvironmentStack per environment, all in one process (jsii starts once)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cdktf import App

from contracts.config import EnvironmentConfig, load_environment
from infra.stack import EnvironmentStack

# The environments that exist on Google Cloud; `local` has nothing to deploy.
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")


def load_configs(names_or_paths: Sequence[str | Path] = ENVIRONMENTS) -> list[EnvironmentConfig]:
    """Validate every environment file before anything is built (raises ConfigError naming file and field)."""
    return [load_environment(name) for name in names_or_paths]


def build_app(configs: Sequence[EnvironmentConfig], outdir: Path | None = None) -> App:
    """The app with one stack per config, id = the environment name (cdktf.out/stacks/<env>/cdk.tf.json)."""
    app = App(outdir=str(outdir)) if outdir else App()
    for config in configs:
        EnvironmentStack(app, config.name, config)
    return app
