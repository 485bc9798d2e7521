"""The scheduled data check: a manual `datacheck` trigger, run by a Scheduler job through the Cloud Build API
as the scheduler account, which may only create builds (and act as the CI account they run as)."""

from __future__ import annotations

import re

import pytest

from ci.routing import ROUTES
from infra.parts.datacheck_schedule import RUNNER_PERMISSIONS, run_uri
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
    trigger_id = r"\$\{google_cloudbuild_trigger\.datacheck_trigger_[0-9A-F]{8}\.trigger_id\}"
    assert re.fullmatch(re.escape(run_uri(gcp, "ID")).replace("ID", trigger_id), target["uri"])
    assert "base64encode(jsonencode(" in target["body"] and "trigger_id" in target["body"]
    assert "accounts_scheduler" in target["oauth_token"]["service_account_email"]
    assert target["oauth_token"]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert trigger["git_file_source"]["path"] == "ci/cloudbuild/datacheck.yaml"
    assert "repository_event_config" not in trigger and "accounts_ci" in trigger["service_account"]
    assert trigger["approval_config"] == {"approval_required": False}  # prod too: scheduled, promotion gated
    assert trigger["substitutions"]["_ENV"] == env


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_scheduler_may_only_create_builds_and_act_as_ci(stacks, env):
    [role] = [r for r in resources(stacks[env], "google_project_iam_custom_role") if "datacheck" in r["role_id"]]
    assert role["role_id"] == f"penguins_{env}_datacheck_runner"
    assert role["permissions"] == list(RUNNER_PERMISSIONS) == ["cloudbuild.builds.create"]
    scheduler = [m for m in resources(stacks[env], "google_project_iam_member") if "accounts_scheduler" in m["member"]]
    [grant] = [m["role"] for m in scheduler]
    assert re.fullmatch(r"\$\{google_project_iam_custom_role\.datacheck_runner-role_[0-9A-F]{8}\.name\}", grant)


def test_no_data_schedule_no_job_and_no_trigger(configs):
    dev = configs["dev"]
    stack = synth_stack(dev.model_copy(update={"data": dev.data.model_copy(update={"schedule": None})}))
    assert not any("datacheck" in j["name"] for j in resources(stack, "google_cloud_scheduler_job"))
    assert not any(t["name"].endswith("-datacheck") for t in resources(stack, "google_cloudbuild_trigger"))
    assert len(resources(stack, "google_cloudbuild_trigger")) == len(ROUTES) - 1


def test_the_request_body_is_the_trigger_run_request(stacks):
    """What Terraform renders: base64 of {"projectId", "triggerId"}, the RunBuildTriggerRequest fields."""
    job, _ = _datacheck(stacks["dev"])
    expression = job["http_target"]["body"]
    assert expression.startswith("${base64encode(jsonencode({") and '"projectId" = "my-dev-project"' in expression
    assert re.search(r'"triggerId" = google_cloudbuild_trigger\.datacheck_trigger_[0-9A-F]{8}\.trigger_id', expression)
