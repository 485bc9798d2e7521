"""Which environment a move may name: approval belongs to the target, not to the file that names it.

An environment file in envs/ is the target as reviewed. Any other file (a copy, a scratch variant) is refused
when it names the project and location of an environment in envs/ whose promotions need an approval
(release.auto_promote: false), so a copied prod.yaml with `auto_promote: true` cannot skip prod's approval.
A file with no gcp section targets a registry on this machine and is taken as it is.

A move is a move of one pipeline's champion: `load_pipeline_target` is the environment for that pipeline
(named, or the environment's only one).
"""

from __future__ import annotations

from pathlib import Path

from contracts.config import (
    ENVS_DIR,
    ConfigError,
    EnvironmentConfig,
    environment_file,
    load_environment,
    load_pipeline_environment,
)


def load_target(name_or_path: str | Path, envs_dir: Path = ENVS_DIR) -> EnvironmentConfig:
    """The environment to move in; ConfigError naming the gated environment when a file may not stand for it."""
    path = environment_file(name_or_path)
    config = load_environment(name_or_path)
    if path.resolve().parent == envs_dir.resolve() or config.gcp is None:
        return config
    for known in sorted(envs_dir.glob("*.yaml")):
        gated = load_environment(known)
        if gated.gcp is None or gated.release.auto_promote:
            continue
        if (gated.gcp.project, gated.gcp.region) == (config.gcp.project, config.gcp.region):
            raise ConfigError(
                f"{path}: names project {config.gcp.project} in {config.gcp.region}, the target of environment "
                f"'{gated.name}', whose promotions need an approval; use --env {gated.name}"
            )
    return config


def load_pipeline_target(
    name_or_path: str | Path, pipeline: str | None = None, envs_dir: Path = ENVS_DIR
) -> EnvironmentConfig:
    """`load_target` for one pipeline: `pipeline`, or the environment's only one; ConfigError listing the
    environment's pipelines when that is not one of them, or when it has several and none is named."""
    load_target(name_or_path, envs_dir)
    return load_pipeline_environment(name_or_path, pipeline)
