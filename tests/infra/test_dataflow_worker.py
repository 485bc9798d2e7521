"""The Dataflow worker account: named by the rule, the least roles, buckets scoped, actAs for the pipeline only;
and nothing of it, nor the Dataflow APIs, where the environment keeps Beam in its steps."""

from __future__ import annotations

import pytest

from contracts.engines import Dataflow, VertexTraining
from infra.parts.apis import DATAFLOW_SERVICES
from infra.parts.dataflow_worker import LAUNCHER_PERMISSIONS
from tests.infra.conftest import has_resource, resources, synth_stack


def _by(stack, rtype, construct):
    """The resources of `rtype` whose member is the Dataflow worker account."""
    return [r for r in resources(stack, rtype) if f"google_service_account.{construct}" in r.get("member", "")]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_worker_account_is_named_by_the_rule_and_matches_the_compile(synthesized, configs, env):
    assert has_resource(synthesized[env], "google_service_account", {"account_id": f"penguins-{env}-dataflow"})
    assert configs[env].gcp.dataflow_service_account.startswith(f"penguins-{env}-dataflow@")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_worker_has_the_worker_role_and_nothing_else_on_the_project(stacks, env):
    granted = [m["role"] for m in _by(stacks[env], "google_project_iam_member", "dataflow_account")]
    assert granted == ["roles/dataflow.worker"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_bucket_access_is_scoped_to_what_the_workers_read_and_write(stacks, env):
    grants = {
        (g["bucket"].split(".")[1].rsplit("_", 1)[0], g["role"])
        for g in _by(stacks[env], "google_storage_bucket_iam_member", "dataflow_account")
    }
    assert grants == {
        ("buckets_pipeline-root", "roles/storage.objectAdmin"),
        ("buckets_data", "roles/storage.objectViewer"),
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_workers_pull_the_pipeline_image(stacks, env):
    (grant,) = _by(stacks[env], "google_artifact_registry_repository_iam_member", "dataflow_account")
    assert grant["role"] == "roles/artifactregistry.reader" and "registry_images" in grant["repository"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_apis_and_the_pipeline_may_launch_jobs(synthesized, stacks, env):
    for service in DATAFLOW_SERVICES:
        assert has_resource(synthesized[env], "google_project_service", {"service": service})
    (role,) = [r for r in resources(stacks[env], "google_project_iam_custom_role") if "dataflow" in r["role_id"]]
    assert role["role_id"] == f"penguins_{env}_dataflow_launcher"
    assert sorted(role["permissions"]) == sorted(LAUNCHER_PERMISSIONS)
    assert all(p.startswith("dataflow.") for p in role["permissions"])  # No actAs, no compute, no storage.
    launchers = [m for m in resources(stacks[env], "google_project_iam_member") if "launcher-role" in m["role"]]
    assert len(launchers) == 1 and "accounts_pipeline" in launchers[0]["member"]


def test_an_environment_without_the_engines_gets_none_of_it(configs):
    dev = configs["dev"]
    in_step = dev.model_copy(
        update={"gcp": dev.gcp.model_copy(update={"dataflow": Dataflow(), "training": VertexTraining()})}
    )
    stack = synth_stack(in_step)
    services = {s["service"] for s in resources(stack, "google_project_service")}
    assert not services & set(DATAFLOW_SERVICES)
    assert not any("dataflow" in a["account_id"] for a in resources(stack, "google_service_account"))
    assert not any("dataflow" in m["role"] for m in resources(stack, "google_project_iam_member"))
    assert not any("dataflow" in r["role_id"] for r in resources(stack, "google_project_iam_custom_role"))
    # Only ci and trigger act as the pipeline account when the Trainer runs in its step.
    on_pipeline = [
        g
        for g in resources(stack, "google_service_account_iam_member")
        if "accounts_pipeline" in g["service_account_id"]
    ]
    assert len(on_pipeline) == 2
    assert "service_account_dataflow" not in stack["output"]
