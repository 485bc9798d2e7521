"""Per-stack inventory: exact resource counts by type, so an unexpected (or missing) resource fails here."""

from __future__ import annotations

import pytest

from ci.routing import PER_PIPELINE, ROUTES

# Both environment files have two pipelines (penguins, diabetes); what each pipeline has of its own is counted
# per pipeline.
PIPELINES = ("diabetes", "penguins")
P = len(PIPELINES)
# The routes that run once per environment: model-tests, infra, function, checks.
ONCE = len(ROUTES) - len(PER_PIPELINE)
APIS = 17  # 15 + compute and dataflow (both stacks run Beam on Dataflow)
COMMON = {
    "google_project_service": APIS,
    # ci, pipeline, trigger, scheduler, datacheck, monitor, dataflow, serving (infra/access.py: ACCOUNTS).
    "google_service_account": 8,
    # the Dataflow launcher: only the dataflow.jobs/messages/metrics calls DataflowRunner makes; the build runner
    # (the scheduler's, for the scheduled data check and monitor): only cloudbuild.builds.create.
    "google_project_iam_custom_role": 2,
    # actAs: ci, trigger, datacheck and pipeline itself (Vertex training) on pipeline; pipeline on dataflow; ci on
    # serving (the deployer everywhere); the scheduler on datacheck and monitor (their scheduled builds). None by
    # the monitor: it wakes the canary build by publishing.
    "google_service_account_iam_member": 8,
    # pipeline-root, artifacts, data, registry, build-logs.
    "google_storage_bucket": 5,
    # The functions' one source object, shared by every pipeline's function.
    "google_storage_bucket_object": 1,
    # Each pipeline's trigger, its dead letters, model-registered, canary-verdict (its canary build's).
    "google_pubsub_topic": 4 * P,
    "google_pubsub_subscription": P,
    # the scheduler on each trigger topic; the Pub/Sub agent on each dead-letter topic; the pipeline on each
    # model-registered topic; the monitor on each canary-verdict topic.
    "google_pubsub_topic_iam_member": 4 * P,
    "google_cloudfunctions2_function": P,
    # Eventarc invokes each pipeline's function as the trigger account.
    "google_cloud_run_v2_service_iam_member": P,
    # Each pipeline's schedules: entry (one each), its data.schedule's datacheck build and its
    # monitoring.schedule's monitor build.
    "google_cloud_scheduler_job": 3 * P,
    "google_monitoring_notification_channel": 1,
    # pipeline-failed for the environment; each pipeline's function failures, dead letters and (every pipeline's
    # monitoring.action alerts) model drift.
    "google_monitoring_alert_policy": 1 + 3 * P,
    # The monitor's flagged metric.
    "google_monitoring_metric_descriptor": 1,
    "google_vertex_ai_endpoint": P,
    # The request logs: one dataset, no table (Vertex AI creates each pipeline's); on the dataset the Vertex AI
    # agent creates and writes them, the monitor reads them.
    "google_bigquery_dataset": 1,
    "google_bigquery_dataset_iam_member": 2,
}
# Every *_iam_member count is the access table's (tests/infra/test_access.py checks each grant); these catch a
# resource the table does not account for.
INVENTORY = {
    "dev": COMMON
    | {
        # ci: aiplatform.user + 14 plan-read roles; pipeline: logWriter, aiplatform.user, Dataflow launcher;
        # trigger: 3; scheduler: the build runner; datacheck: aiplatform.user; monitor: bigquery.jobUser,
        # aiplatform.viewer, monitoring.metricWriter; dataflow: dataflow.worker.
        "google_project_iam_member": 27,
        # ci 8 (the canary verdicts, read), pipeline 5, trigger 1, datacheck 8 (3 of them object-conditional),
        # monitor 5 (the data bucket: read, create under monitoring/, the lease (penguins retrains); the registry;
        # the build logs), dataflow 3, serving 1.
        "google_storage_bucket_iam_member": 31,
        # + the monitor on each trigger topic (dev's penguins retrains on a flagged window).
        "google_pubsub_topic_iam_member": 5 * P,
        # The images repository (dev builds the releases).
        "google_artifact_registry_repository": 1,
        # ci pushes, the Dataflow workers pull.
        "google_artifact_registry_repository_iam_member": 2,
        # The 10 routes: model-tests, infra, function, checks once, full, modules, promote, datacheck, monitor,
        # canary (on its canary-verdict topic) per pipeline; + each pipeline's autopromote.
        "google_cloudbuild_trigger": ONCE + len(PER_PIPELINE) * P + P,
    },
    "prod": COMMON
    | {
        # + ci reading dev's IAM for the plan (the release store's grants).
        "google_project_iam_member": 28,
        # ci publishes nothing (-2), and ci, pipeline, trigger, datacheck read dev's artifacts (+4, pipeline -1);
        # the monitor takes no lease (no pipeline retrains on drift: -1).
        "google_storage_bucket_iam_member": 31,
        # No repository: prod runs dev's image; its Dataflow workers and Vertex AI agent pull it from dev's.
        "google_artifact_registry_repository_iam_member": 2,
        # The 10 routes, per pipeline as in dev; no auto-promotion.
        "google_cloudbuild_trigger": ONCE + len(PER_PIPELINE) * P,
    },
}
OUTPUTS = {
    "bucket_pipeline_root",
    "bucket_artifacts",
    "bucket_data",
    "bucket_registry",
    "bucket_build_logs",
    "service_account_ci",
    "service_account_pipeline",
    "service_account_trigger",
    "service_account_scheduler",
    "service_account_datacheck",
    "service_account_monitor",
    "service_account_dataflow",
    "service_account_serving",
    "image_path",
} | {
    f"{output}_{pipeline}"
    for pipeline in PIPELINES
    for output in (
        "trigger_topic",
        "dead_letter_topic",
        "model_registered_topic",
        "canary_verdict_topic",
        "function",
        "dead_letter_setup",
        "endpoint",
        "endpoint_display_name",
    )
}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_resource_counts_by_type(stacks, configs, env):
    assert tuple(sorted(configs[env].pipelines)) == PIPELINES
    assert all(len(each.schedules) == 1 and each.data.schedule for each in configs[env].each_pipeline())
    assert all(each.monitoring.schedule and each.monitoring.action != "report" for each in configs[env].each_pipeline())
    assert (ONCE, len(PER_PIPELINE)) == (4, 6)
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
    assert set(stack["output"]) == OUTPUTS
    gcp = configs[env].gcp
    for pipeline in PIPELINES:
        # Each pipeline's outputs name its own resources (constructs <kind>-<pipeline>), never another's.
        (other,) = set(PIPELINES) - {pipeline}
        own = {k: v["value"] for k, v in stack["output"].items() if k.endswith(f"_{pipeline}")}
        assert own.pop(f"endpoint_{pipeline}") == gcp.endpoint(pipeline)
        assert len(own) == 7
        for key, value in own.items():
            assert f"-{pipeline}_" in value and f"-{other}_" not in value, key


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_resource_waits_for_the_apis(stacks, env):
    apis = {f"${{google_project_service.{name}}}" for name in stacks[env]["resource"]["google_project_service"]}
    assert len(apis) == APIS
    for rtype, instances in stacks[env]["resource"].items():
        if rtype == "google_project_service":
            continue
        for body in instances.values():
            assert apis <= set(body["depends_on"]), rtype
            # Only an endpoint that logs waits for one thing more: the Vertex AI agent's grant on the dataset.
            more = set(body["depends_on"]) - apis
            assert not more or (rtype == "google_vertex_ai_endpoint" and len(more) == 1), rtype
