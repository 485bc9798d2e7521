"""Service accounts: one per account of the access table, named by the rule; least privilege, actAs on
single accounts only, never on the project."""

from __future__ import annotations

import json

import pytest

from infra import access
from infra.checks import PRIMITIVE_ROLES
from tests.infra.conftest import has_resource, synthesized_bindings


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_account_per_table_account_named_by_the_rule(synthesized, configs, env):
    for key in access.accounts(configs[env]):
        assert has_resource(synthesized[env], "google_service_account", {"account_id": f"penguins-{env}-{key}"})


def test_the_accounts_are_the_ones_the_code_runs_as(stacks, configs):
    gcp = configs["dev"].gcp
    outputs = {name: value["value"] for name, value in stacks["dev"]["output"].items()}
    assert "accounts_pipeline" in outputs["service_account_pipeline"]
    assert gcp.pipeline_service_account == "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com"
    assert gcp.serving_service_account == access.account_email(gcp, "serving")
    assert gcp.dataflow_service_account == access.account_email(gcp, "dataflow")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_primitive_role_anywhere(stacks, env):
    text = json.dumps(stacks[env])
    for role in PRIMITIVE_ROLES:
        assert f'"{role}"' not in text


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_admin_role_on_a_project_and_act_as_only_on_single_accounts(stacks, env):
    project_roles = {role for _, kind, _, role, _ in synthesized_bindings(stacks[env]) if kind == "project"}
    assert not any("admin" in role.lower() or role == "roles/iam.serviceAccountUser" for role in project_roles)
    acting = {
        (resource, member)
        for member, kind, resource, role, _ in synthesized_bindings(stacks[env])
        if kind == "service-account"
    }
    assert {role for _, kind, _, role, _ in synthesized_bindings(stacks[env]) if kind == "service-account"} == {
        "roles/iam.serviceAccountUser"
    }

    def short(name: str) -> str:
        return name.rsplit("/", 1)[-1].split("@")[0].removeprefix("serviceAccount:").removeprefix(f"penguins-{env}-")

    assert {(short(acted), short(actor)) for acted, actor in acting} == {
        ("pipeline", "ci"),
        ("pipeline", "trigger"),
        ("pipeline", "datacheck"),
        # The Trainer's step creates a Vertex AI custom job that runs as the pipeline account.
        ("pipeline", "pipeline"),
        # The Beam steps launch Dataflow jobs whose workers run as the dataflow account.
        ("dataflow", "pipeline"),
        # The deployer is the CI account in every environment (the promote and autopromote builds).
        ("serving", "ci"),
        # The scheduler starts the datacheck and monitor builds, which run as their own accounts.
        ("datacheck", "scheduler"),
        ("monitor", "scheduler"),
    }


def test_ci_has_no_logging_role_its_builds_log_to_their_bucket(stacks):
    """Every build config logs GCS_ONLY to the build-logs bucket, which CI, datacheck and monitor may write."""
    import yaml

    from ci.routing import ROUTES
    from contracts.environment import REPO_ROOT

    for config in {route.config for route in ROUTES} | {"ci/cloudbuild/adopt.yaml"}:
        assert yaml.safe_load((REPO_ROOT / config).read_text())["options"]["logging"] == "GCS_ONLY", config
    granted = synthesized_bindings(stacks["dev"])
    builders = ("penguins-dev-ci@", "penguins-dev-datacheck@", "penguins-dev-monitor@")
    assert not [g for g in granted if g[0].removeprefix("serviceAccount:").startswith(builders) and "logging" in g[3]]
