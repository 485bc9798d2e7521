"""Service accounts: one per role, named by the rule, least privilege, impersonation on one account only."""

from __future__ import annotations

import json

import pytest

from infra.checks import PRIMITIVE_ROLES
from infra.parts.service_accounts import PLAN_READ_ROLES, PROJECT_ROLES, ROLES
from tests.infra.conftest import has_resource, resources


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_account_per_role_named_by_the_rule(synthesized, env):
    for role in ROLES:
        assert has_resource(synthesized[env], "google_service_account", {"account_id": f"penguins-{env}-{role}"})


def test_pipeline_account_is_the_one_the_code_submits_as(stacks, configs):
    outputs = stacks["dev"]["output"]
    assert "accounts_pipeline" in outputs["service_account_pipeline"]["value"]
    assert configs["dev"].gcp.pipeline_service_account == "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_primitive_role_anywhere(stacks, env):
    text = json.dumps(stacks[env])
    for role in PRIMITIVE_ROLES:
        assert f'"{role}"' not in text


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_project_roles_are_exactly_the_table(stacks, env):
    granted = {(m["member"].split(".")[1], m["role"]) for m in resources(stacks[env], "google_project_iam_member")}
    expected = {(f"accounts_{role}", r) for role, roles in PROJECT_ROLES.items() for r in roles}
    # Both stacks run Beam on Dataflow: the workers' role, and the pipeline account launching the jobs.
    expected |= {("dataflow_account", "roles/dataflow.worker")}
    launch = [m for m in resources(stacks[env], "google_project_iam_member") if "dataflow_launcher-role" in m["role"]]
    assert len(launch) == 1 and "accounts_pipeline" in launch[0]["member"]
    granted -= {(m["member"].split(".")[1], m["role"]) for m in launch}
    # The scheduler's one permission, cloudbuild.builds.create (tests/infra/test_datacheck_schedule.py).
    runner = [m for m in resources(stacks[env], "google_project_iam_member") if "datacheck_runner-role" in m["role"]]
    assert len(runner) == 1 and "accounts_scheduler" in runner[0]["member"]
    granted -= {(m["member"].split(".")[1], m["role"]) for m in runner}
    # member is "serviceAccount:${google_service_account.accounts_<role>_<hash>.email}": compare the role part.
    assert {(member.rsplit("_", 1)[0], role) for member, role in granted} == expected
    assert all(role.startswith("roles/") and "admin" not in role.lower() for _, role in expected)
    assert not any(role in PLAN_READ_ROLES for role in PROJECT_ROLES["pipeline"] + PROJECT_ROLES["trigger"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_act_as_is_granted_on_the_pipeline_dataflow_and_serving_accounts_only(stacks, env):
    grants = resources(stacks[env], "google_service_account_iam_member")
    assert {g["role"] for g in grants} == {"roles/iam.serviceAccountUser"}
    # (account acted as, account acting): "${google_service_account.<construct>_<role>_<hash>.name}".
    pairs = {
        (g["service_account_id"].split(".")[1].rsplit("_", 1)[0], g["member"].split(".")[1].rsplit("_", 1)[0])
        for g in grants
    }
    assert pairs == {
        ("accounts_pipeline", "accounts_ci"),
        ("accounts_pipeline", "accounts_trigger"),
        # The scheduler starts the datacheck build, which runs as the CI account.
        ("accounts_ci", "accounts_scheduler"),
        # The Trainer's step creates a Vertex AI custom job that runs as the pipeline account.
        ("accounts_pipeline", "accounts_pipeline"),
        # The Beam steps launch Dataflow jobs whose workers run as the dataflow account.
        ("dataflow_account", "accounts_pipeline"),
        # The champion's deployer (dev: the pipeline's push; prod: the promote build) on the served container's.
        ("serving_account", "accounts_pipeline" if env == "dev" else "accounts_ci"),
    }
    users = [m for m in resources(stacks[env], "google_project_iam_member") if "serviceAccountUser" in m["role"]]
    assert users == []
