"""Per-stack inventory: exact resource counts by type, so an unexpected (or missing) resource fails here."""

from __future__ import annotations

import pytest

COMMON = {
    # 14 + compute and dataflow (both stacks run Beam on Dataflow).
    "google_project_service": 16,
    # ci, pipeline, trigger, scheduler + the Dataflow worker + the served container.
    "google_service_account": 6,
    # ci: 2 + 13 plan-read roles; pipeline: 2 + the Dataflow launcher role; trigger: 3; dataflow: dataflow.worker.
    # + the scheduler starting the datacheck build.
    "google_project_iam_member": 23,
    # the Dataflow launcher: only the dataflow.jobs/messages/metrics calls DataflowRunner makes; the datacheck
    # runner: only cloudbuild.builds.create.
    "google_project_iam_custom_role": 2,
    # actAs on the pipeline account (ci, trigger, and pipeline for its Vertex training jobs); pipeline on dataflow;
    # the deployer (dev: pipeline, prod: ci) on the serving account; the scheduler on ci (the datacheck build).
    "google_service_account_iam_member": 6,
    "google_storage_bucket": 4,
    # Per stack, below.
    "google_storage_bucket_object": 1,
    "google_artifact_registry_repository": 2,
    # + the Dataflow worker pulling the pipeline image (its SDK container).
    "google_artifact_registry_repository_iam_member": 6,
    "google_pubsub_topic": 2,
    "google_pubsub_subscription": 1,
    # the Pub/Sub agent on the dead-letter topic; the scheduler on the trigger topic.
    "google_pubsub_topic_iam_member": 2,
    "google_cloudfunctions2_function": 1,
    "google_cloud_run_v2_service_iam_member": 1,
    # the schedules: entry; data.schedule's datacheck build.
    "google_cloud_scheduler_job": 2,
    # full, modules, model-tests, infra, function on a push; checks on a pull request; promote by hand;
    # datacheck scheduled.
    "google_cloudbuild_trigger": 8,
    "google_monitoring_notification_channel": 1,
    "google_monitoring_alert_policy": 3,
    "google_vertex_ai_endpoint": 1,
}
# 8 grants on the stack's buckets + CI reading the state bucket + the Dataflow worker on pipeline-root, data
# + the served container reading pipeline-root; dev also lets the pipeline account record alias moves.
INVENTORY = {
    "dev": COMMON | {"google_storage_bucket_iam_member": 13},
    "prod": COMMON | {"google_storage_bucket_iam_member": 12},
}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_resource_counts_by_type(stacks, env):
    counts = {rtype: len(instances) for rtype, instances in stacks[env]["resource"].items()}
    assert counts == INVENTORY[env]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_data_sources_backend_and_outputs(stacks, env, configs):
    stack = stacks[env]
    assert {rtype: len(items) for rtype, items in stack["data"].items()} == {"google_project": 1}
    assert stack["terraform"]["backend"] == {
        "gcs": {"bucket": configs[env].gcp.terraform_state_bucket, "prefix": f"penguins-{env}/terraform"}
    }
    assert stack["terraform"]["required_providers"]["google"]["version"] == "6.50.0"
    assert set(stack["output"]) == {
        "bucket_pipeline_root",
        "bucket_artifacts",
        "bucket_data",
        "bucket_build_logs",
        "service_account_ci",
        "service_account_pipeline",
        "service_account_trigger",
        "service_account_scheduler",
        "service_account_dataflow",
        "trigger_topic",
        "dead_letter_topic",
        "function",
        "image_path",
        "dead_letter_setup",
        "endpoint",
        "endpoint_display_name",
        "service_account_serving",
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_resource_waits_for_the_apis(stacks, env):
    for rtype, instances in stacks[env]["resource"].items():
        if rtype == "google_project_service":
            continue
        for body in instances.values():
            assert len(body["depends_on"]) == 16, rtype
