"""Serving: each pipeline's champion's endpoint under the naming rule, the serving account, and who may deploy
onto it."""

from __future__ import annotations

import pytest

from infra import access
from tests.infra.conftest import has_resource, resources


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_endpoint_follows_the_naming_rule(synthesized, stacks, configs, env):
    gcp = configs[env].gcp
    endpoints = resources(stacks[env], "google_vertex_ai_endpoint")
    assert len(endpoints) == len(configs[env].pipelines) == 2
    assert {e["display_name"] for e in endpoints} == {f"penguins-{env}-{p}-endpoint" for p in configs[env].pipelines}
    outputs = stacks[env]["output"]
    for pipeline in sorted(configs[env].pipelines):
        assert has_resource(
            synthesized[env],
            "google_vertex_ai_endpoint",
            {
                "name": gcp.endpoint_id(pipeline),
                "display_name": f"penguins-{env}-{pipeline}-endpoint",
                "location": "europe-west4",
                "region": "europe-west4",
                "project": f"my-{env}-project",
                "labels": {"model": f"penguins-{env}-{pipeline}-model", "pipeline": f"{pipeline}-{env}"},
            },
        )
        endpoint = f"projects/my-{env}-project/locations/europe-west4/endpoints/{gcp.endpoint_id(pipeline)}"
        assert outputs[f"endpoint_{pipeline}"]["value"] == endpoint
        display = outputs[f"endpoint_display_name_{pipeline}"]["value"]
        assert display.startswith(f"${{google_vertex_ai_endpoint.serving_endpoint-{pipeline}_")
        assert display.endswith(".display_name}")
    assert gcp.endpoint_id("penguins") != gcp.endpoint_id("diabetes")
    for endpoint in endpoints:
        # The release path owns the deployed models and their traffic.
        assert endpoint["lifecycle"] == {"ignore_changes": ["traffic_split"]}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_deployer_is_ci_everywhere_and_the_serving_account_only_reads_the_registry(configs, env):
    """Promotion runs in Cloud Build (the promote or the autopromote build): the pipeline account deploys nothing."""
    on_serving = [
        b
        for b in access.bindings(configs[env])
        if b.resource.endswith(f"/penguins-{env}-serving@my-{env}-project.iam.gserviceaccount.com")
    ]
    assert [(b.grant.account, b.role) for b in on_serving] == [("ci", "roles/iam.serviceAccountUser")]
    serving = [b for b in access.bindings(configs[env]) if b.grant.account == "serving"]
    assert [(b.resource, b.role, b.condition) for b in serving] == [
        (f"penguins-{env}-registry", "roles/storage.objectViewer", None)
    ]


def test_the_serving_account_is_described_as_reading_the_model(stacks):
    (account,) = [
        a for a in resources(stacks["dev"], "google_service_account") if a["account_id"] == "penguins-dev-serving"
    ]
    assert "reads the model" in account["description"]
