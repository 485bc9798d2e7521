"""Buckets: named by the rule, never public, versioned, expiring where the data is disposable."""

from __future__ import annotations

import pytest

from tests.infra.conftest import has_resource, resources

KINDS = ("pipeline-root", "artifacts", "data", "build-logs")


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


@pytest.mark.parametrize("kind", ["artifacts", "data"])
def test_record_buckets_keep_everything(stacks, kind):
    assert _lifecycle(stacks["dev"], kind) == []


def test_ci_publishes_create_only_reads_models_and_state(stacks):
    grants = {
        (g["bucket"].split(".")[1].rsplit("_", 1)[0] if "${" in g["bucket"] else g["bucket"], g["role"], g["member"])
        for g in resources(stacks["dev"], "google_storage_bucket_iam_member")
        if "accounts_ci" in g["member"]
    }
    roles = {(bucket, role) for bucket, role, _ in grants}
    assert roles == {
        ("buckets_artifacts", "roles/storage.objectCreator"),
        ("buckets_artifacts", "roles/storage.objectViewer"),
        # The promote build smoke-tests the pushed SavedModel there.
        ("buckets_pipeline-root", "roles/storage.objectViewer"),
        ("buckets_build-logs", "roles/storage.objectAdmin"),
        ("penguins-dev-tfstate", "roles/storage.objectViewer"),
    }
