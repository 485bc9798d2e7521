"""The scheduled data check: the routing table's manual `datacheck` trigger, run as the datacheck account,
started by a Scheduler job through the Cloud Build API as the scheduler account, which may only create builds
(and act as the account they run as)."""

from __future__ import annotations

import re

import pytest

from infra import access
from infra.parts.datacheck_schedule import run_uri
from tests.infra.conftest import resources, synth_stack


def _datacheck(stack):
    [job] = [j for j in resources(stack, "google_cloud_scheduler_job") if "datacheck" in j["name"]]
    [trigger] = [t for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-datacheck")]
    return job, trigger


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_job_runs_the_manual_datacheck_trigger_on_the_files_schedule(stacks, configs, env):
    job, trigger = _datacheck(stacks[env])
    schedule, gcp = configs[env].data.schedule, configs[env].gcp
    assert (job["name"], job["schedule"], job["time_zone"]) == (
        f"penguins-{env}-schedule-datacheck",
        schedule.cron,
        schedule.time_zone,
    )
    target = job["http_target"]
    assert target["http_method"] == "POST"
    trigger_id = r"\$\{google_cloudbuild_trigger\.build-triggers_datacheck_[0-9A-F]{8}\.trigger_id\}"
    assert re.fullmatch(re.escape(run_uri(gcp, "ID")).replace("ID", trigger_id), target["uri"])
    assert "base64encode(jsonencode(" in target["body"] and "trigger_id" in target["body"]
    assert "accounts_scheduler" in target["oauth_token"]["service_account_email"]
    assert target["oauth_token"]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert trigger["git_file_source"]["path"] == "ci/cloudbuild/datacheck.yaml"
    assert "repository_event_config" not in trigger
    # The check's own account, no longer CI's (issue 17 item 2).
    assert trigger["service_account"].startswith("${google_service_account.accounts_datacheck_")
    assert trigger["approval_config"] == {"approval_required": False}  # prod too: scheduled, promotion gated
    assert trigger["substitutions"]["_ENV"] == env


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_scheduler_may_only_create_builds_and_act_as_the_datacheck_account(configs, env):
    scheduler = [b for b in access.bindings(configs[env]) if b.grant.account == "scheduler"]
    assert {(b.resource_type, b.role) for b in scheduler} == {
        ("topic", "roles/pubsub.publisher"),
        ("project", f"projects/my-{env}-project/roles/penguins_{env}_datacheck_runner"),
        ("service-account", "roles/iam.serviceAccountUser"),
    }
    [acting] = [b for b in scheduler if b.resource_type == "service-account"]
    assert acting.resource.endswith(f"/penguins-{env}-datacheck@my-{env}-project.iam.gserviceaccount.com")
    assert access.CUSTOM_ROLES["datacheck-runner"].permissions == ("cloudbuild.builds.create",)


def test_no_data_schedule_no_job_and_no_scheduler_grants_the_trigger_stays_for_runs_by_hand(configs):
    dev = configs["dev"]
    unscheduled = dev.with_settings(data=dev.data.model_copy(update={"schedule": None}))
    stack = synth_stack(unscheduled)
    assert not any("datacheck" in j["name"] for j in resources(stack, "google_cloud_scheduler_job"))
    assert [t["name"] for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-datacheck")]
    assert [b.grant.account for b in access.bindings(unscheduled) if b.grant.account == "scheduler"] == ["scheduler"]


def test_the_request_body_is_the_trigger_run_request(stacks):
    """What Terraform renders: base64 of {"projectId", "triggerId"}, the RunBuildTriggerRequest fields."""
    job, _ = _datacheck(stacks["dev"])
    expression = job["http_target"]["body"]
    assert expression.startswith("${base64encode(jsonencode({") and '"projectId" = "my-dev-project"' in expression
    assert re.search(
        r'"triggerId" = google_cloudbuild_trigger\.build-triggers_datacheck_[0-9A-F]{8}\.trigger_id', expression
    )
