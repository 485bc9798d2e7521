"""Load and validate an environment file, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contracts.environment import REPO_ROOT, EnvironmentConfig, LocalPaths, PipelineChoiceError

__all__ = [
    "ENVS_DIR",
    "REPO_ROOT",
    "ConfigError",
    "EnvironmentConfig",
    "LocalPaths",
    "PipelineChoiceError",
    "add_pipeline_argument",
    "environment_file",
    "load_environment",
    "load_pipeline_environment",
    "pinned_template_uri",
    "release_source",
]

ENVS_DIR = REPO_ROOT / "envs"


class ConfigError(Exception):
    """An environment file is missing or invalid; the message names the file and the field."""


def environment_file(name_or_path: str | Path) -> Path:
    """`local` means envs/local.yaml; anything with a suffix or a slash is taken as a path."""
    candidate = Path(name_or_path)
    if candidate.suffix or len(candidate.parts) > 1:
        return candidate
    return ENVS_DIR / f"{name_or_path}.yaml"


def load_environment(name_or_path: str | Path, pipeline: str | None = None) -> EnvironmentConfig:
    """The environment file, validated; for `pipeline` when one is named. ConfigError names the file and the
    field, or the pipelines there are (an unknown pipeline; a pipeline without its folder in pipelines/)."""
    path = environment_file(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ENVS_DIR.glob("*.yaml")))
        raise ConfigError(f"{path}: environment file not found (known environments: {known})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        config = EnvironmentConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path}: {problems}") from err
    folders = REPO_ROOT / "pipelines"
    missing = [name for name in config.pipelines if not (folders / name / "pipeline.py").is_file()]
    if missing:
        present = sorted(p.parent.name for p in folders.glob("*/pipeline.py"))
        raise ConfigError(
            f"{path}: pipelines.{missing[0]}: no folder pipelines/{missing[0]}/ with a pipeline.py "
            f"(the repository's pipelines: {', '.join(present) or 'none'})"
        )
    if pipeline is None:
        return config
    try:
        return config.for_pipeline(pipeline)
    except PipelineChoiceError as err:
        raise ConfigError(f"{path}: {err}") from None


def load_pipeline_environment(name_or_path: str | Path, pipeline: str | None = None) -> EnvironmentConfig:
    """The environment for one pipeline, what a command that takes a model works on: `pipeline`, or the
    environment's only one. ConfigError naming the file and listing the pipelines when that is not one."""
    config = load_environment(name_or_path, pipeline)
    try:
        return config.for_pipeline(config.selected)
    except PipelineChoiceError as err:
        raise ConfigError(f"{environment_file(name_or_path)}: {err}") from None


def add_pipeline_argument(parser: Any) -> None:
    """`--pipeline NAME` on an argparse parser: which pipeline a command works on (needed when the environment
    has several)."""
    parser.add_argument(
        "--pipeline", help="the pipeline (a folder of pipelines/); needed when the environment has several"
    )


def release_source(config: EnvironmentConfig) -> EnvironmentConfig:
    """The environment whose release store (artifacts bucket, images repository) `config` runs from.

    Its own, or the one `gcp.releases_from` names (prod runs what dev published). ConfigError if that one is
    not a cloud environment that publishes itself.
    """
    if config.gcp is None or config.gcp.releases_from is None:
        return config
    name = config.gcp.releases_from
    if name == config.name:
        raise ConfigError(f"environment '{config.name}': gcp.releases_from names itself")
    source = load_environment(name)
    if source.gcp is None or source.gcp.releases_from is not None:
        raise ConfigError(
            f"environment '{config.name}': gcp.releases_from '{name}' must be a cloud environment that publishes "
            "its own releases (a gcp section without releases_from)"
        )
    return source


def pinned_template_uri(config: EnvironmentConfig) -> str | None:
    """The template the config's pipeline pins (`pipelines.<name>.template_sha256`), in the release store; None
    when nothing is pinned or the environment has no gcp section. PipelineChoiceError when the environment has
    several pipelines and none is chosen."""
    if config.gcp is None:
        return None
    sha = config.settings.template_sha256
    if sha is None:
        return None
    store = release_source(config).location("artifacts")
    return f"{store}/templates/{sha}/pipeline.json"
