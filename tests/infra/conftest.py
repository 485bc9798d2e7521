"""Infra tests: they run in the infra environment (cdktf, jsii, Node.js), never in the TFX one.

`nox -s infra_tests` runs them. Elsewhere (e.g. `nox -s tests`, which has no cdktf) this folder is not
collected, rather than failing on an import. Stacks are synthesized once per session: jsii starts once.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

if importlib.util.find_spec("cdktf") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    from cdktf import Testing

    from contracts.config import EnvironmentConfig, load_environment
    from infra.stack import EnvironmentStack

    def synth_stack(config: EnvironmentConfig) -> dict[str, Any]:
        """The stack's Terraform JSON, parsed (cdktf's Testing.synth on a fresh test app)."""
        return json.loads(Testing.synth(EnvironmentStack(Testing.app(), config.name, config)))

    @pytest.fixture(scope="session")
    def configs() -> dict[str, EnvironmentConfig]:
        return {name: load_environment(name) for name in ("dev", "prod")}

    @pytest.fixture(scope="session")
    def stacks(configs: dict[str, EnvironmentConfig]) -> dict[str, dict[str, Any]]:
        return {name: synth_stack(config) for name, config in configs.items()}

    @pytest.fixture(scope="session")
    def synthesized(configs: dict[str, EnvironmentConfig]) -> dict[str, str]:
        """The raw JSON strings, for Testing.to_have_resource_with_properties."""
        return {
            name: Testing.synth(EnvironmentStack(Testing.app(), config.name, config))
            for name, config in configs.items()
        }


def resources(stack: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return list(stack["resource"].get(rtype, {}).values())


def has_resource(synthesized: str, rtype: str, properties: dict[str, Any]) -> bool:
    """cdktf's Testing.to_have_resource_with_properties (imported here: pytest would collect `Testing`)."""
    from cdktf import Testing as _Testing

    return bool(_Testing.to_have_resource_with_properties(synthesized, rtype, properties))
