"""Buckets: named by the rule, never public, versioned, expiring where the data is disposable."""

from __future__ import annotations

import pytest

from tests.infra.conftest import has_resource, resources

KINDS = ("pipeline-root", "artifacts", "data", "registry", "build-logs")


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("kind", KINDS)
def test_bucket_is_private_uniform_and_versioned(synthesized, env, kind):
    assert has_resource(
        synthesized[env],
        "google_storage_bucket",
        {
            "name": f"penguins-{env}-{kind}",
            "location": "europe-west4",
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "versioning": {"enabled": True},
            "force_destroy": False,
        },
    )


def _lifecycle(stack, kind):
    (bucket,) = [b for b in resources(stack, "google_storage_bucket") if b["name"].endswith(f"-{kind}")]
    return bucket.get("lifecycle_rule", [])


@pytest.mark.parametrize(("kind", "age"), [("pipeline-root", 30), ("build-logs", 90)])
def test_disposable_buckets_expire(stacks, kind, age):
    rules = _lifecycle(stacks["dev"], kind)
    assert {"action": {"type": "Delete"}, "condition": {"age": age}} in rules
    assert {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 7}} in rules


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("kind", ["artifacts", "data", "registry"])
def test_record_buckets_keep_everything(stacks, env, kind):
    """No lifecycle rule at all: the registry's model copies outlive every run that made them (issue 18)."""
    assert _lifecycle(stacks[env], kind) == []


def test_the_registry_is_where_the_registry_contract_keeps_versions_and_history(configs):
    from contracts.registry import registry_target

    for env, config in configs.items():
        assert config.gcp.bucket_uri("registry") == f"gs://penguins-{env}-registry"
        for each in config.each_pipeline():  # each pipeline's model, in the one registry bucket
            target = registry_target(each)
            model = f"gs://penguins-{env}-registry/penguins-{env}-{each.selected}-model"
            assert (target.store_uri, target.history_uri) == (model, f"{model}/history")
