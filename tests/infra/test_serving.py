"""Serving: the champion's endpoint under the naming rule, the serving account, and who may deploy onto it."""

from __future__ import annotations

import pytest

from tests.infra.conftest import has_resource, resources

# cdktf's stable logical-id suffixes of the account resources (parts/service_accounts.py).
ACCOUNT_IDS = {"pipeline": "2DEE8F35", "ci": "8B7F74BB"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_endpoint_follows_the_naming_rule(synthesized, stacks, configs, env):
    gcp = configs[env].gcp
    assert has_resource(
        synthesized[env],
        "google_vertex_ai_endpoint",
        {
            "name": gcp.endpoint_id,
            "display_name": f"penguins-{env}-endpoint",
            "location": "europe-west4",
            "region": "europe-west4",
            "project": f"my-{env}-project",
            "labels": {"model": f"penguins-{env}-model", "pipeline": f"penguins-{env}"},
        },
    )
    (endpoint,) = resources(stacks[env], "google_vertex_ai_endpoint")
    # The release path owns the deployed models and their traffic.
    assert endpoint["lifecycle"] == {"ignore_changes": ["traffic_split"]}
    outputs = stacks[env]["output"]
    assert (
        outputs["endpoint"]["value"] == f"projects/my-{env}-project/locations/europe-west4/endpoints/{gcp.endpoint_id}"
    )
    assert outputs["endpoint_display_name"]["value"].endswith(".display_name}")


def account_grants(stack, rtype, field, account):
    return [g for g in resources(stack, rtype) if f"{account}_" in g[field]]


@pytest.mark.parametrize(("env", "deployer"), [("dev", "pipeline"), ("prod", "ci")])
def test_only_the_deployer_acts_as_the_serving_account(stacks, env, deployer):
    grants = account_grants(stacks[env], "google_service_account_iam_member", "service_account_id", "serving_account")
    assert [(g["role"], g["member"]) for g in grants] == [
        (
            "roles/iam.serviceAccountUser",
            f"serviceAccount:${{google_service_account.accounts_{deployer}_{ACCOUNT_IDS[deployer]}.email}}",
        )
    ]
    (account,) = [
        a for a in resources(stacks[env], "google_service_account") if a["account_id"] == f"penguins-{env}-serving"
    ]
    assert "reads the model" in account["description"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_serving_account_only_reads_the_pipeline_root(stacks, env):
    grants = account_grants(stacks[env], "google_storage_bucket_iam_member", "member", "serving_account")
    assert [(g["role"], g["bucket"].split(".")[1].rsplit("_", 1)[0]) for g in grants] == [
        ("roles/storage.objectViewer", "buckets_pipeline-root")
    ]
    assert account_grants(stacks[env], "google_project_iam_member", "member", "serving_account") == []
    assert (
        account_grants(stacks[env], "google_artifact_registry_repository_iam_member", "member", "serving_account") == []
    )


def test_the_pipeline_account_may_create_only_registry_history_objects_in_dev(stacks):
    def history_grants(env):
        return [
            g
            for g in resources(stacks[env], "google_storage_bucket_iam_member")
            if g["role"] == "roles/storage.objectCreator" and "accounts_pipeline" in g["member"]
        ]

    (grant,) = history_grants("dev")
    assert "artifacts" in grant["bucket"]
    assert grant["condition"]["expression"] == (
        'resource.name.startsWith("projects/_/buckets/penguins-dev-artifacts/objects/registry/")'
    )
    # prod: the promote build (CI) records the moves; the pipeline account moves nothing.
    assert history_grants("prod") == []
