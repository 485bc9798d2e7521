"""Beam on Dataflow: the APIs, the launcher role the pipeline account launches with, the worker account the
compile names; none of it where the environment keeps Beam in its steps."""

from __future__ import annotations

import pytest

from contracts.engines import Dataflow, VertexTraining
from infra import access
from infra.parts.apis import DATAFLOW_SERVICES
from tests.infra.conftest import has_resource, resources, synth_stack


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_worker_account_is_named_by_the_rule_and_matches_the_compile(synthesized, configs, env):
    assert has_resource(synthesized[env], "google_service_account", {"account_id": f"penguins-{env}-dataflow"})
    assert configs[env].gcp.dataflow_service_account.startswith(f"penguins-{env}-dataflow@")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_apis_and_the_launcher_role(synthesized, stacks, env):
    for service in DATAFLOW_SERVICES:
        assert has_resource(synthesized[env], "google_project_service", {"service": service})
    (role,) = [r for r in resources(stacks[env], "google_project_iam_custom_role") if "dataflow" in r["role_id"]]
    assert role["role_id"] == f"penguins_{env}_dataflow_launcher"
    assert role["permissions"] == list(access.CUSTOM_ROLES["dataflow-launcher"].permissions)
    assert all(p.startswith("dataflow.") for p in role["permissions"])  # No actAs, no compute, no storage.


def test_an_environment_without_the_engines_gets_none_of_it(configs):
    dev = configs["dev"]
    in_step = dev.model_copy(
        update={"gcp": dev.gcp.model_copy(update={"dataflow": Dataflow(), "training": VertexTraining()})}
    )
    stack = synth_stack(in_step)
    services = {s["service"] for s in resources(stack, "google_project_service")}
    assert not services & set(DATAFLOW_SERVICES)
    assert not any("dataflow" in a["account_id"] for a in resources(stack, "google_service_account"))
    assert not any("dataflow" in r["role_id"] for r in resources(stack, "google_project_iam_custom_role"))
    assert "service_account_dataflow" not in stack["output"]
