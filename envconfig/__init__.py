"""Typed environment configuration: one schema, one YAML file per environment (envs/<name>.yaml).

Read once at the edges (runners, nox sessions, infra) and passed inward as objects.
"""

from envconfig.loader import ConfigError, load_environment
from envconfig.schema import REPO_ROOT, EnvironmentConfig, LocalPaths

__all__ = ["REPO_ROOT", "ConfigError", "EnvironmentConfig", "LocalPaths", "load_environment"]
