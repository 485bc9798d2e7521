"""Each pipeline's scheduled data check: the routing table's manual `datacheck` trigger of the pipeline
(`<prefix>-<pipeline>-datacheck`), run as the datacheck account, started by the pipeline's Scheduler job
(`<prefix>-<pipeline>-schedule-datacheck`) through the Cloud Build API as the scheduler account, which may only
create builds (and act as the accounts they run as). The monitor's schedule, the same part's: test_monitor.py."""

from __future__ import annotations

import re

import pytest

from infra import access
from infra.parts.datacheck_schedule import run_uri
from tests.infra.conftest import resources, synth_stack


def _jobs(stack):
    return [j for j in resources(stack, "google_cloud_scheduler_job") if j["name"].endswith("-schedule-datacheck")]


def _datacheck(stack, config, pipeline):
    """The pipeline's data-check Scheduler job and build trigger."""
    prefix = config.gcp.name_prefix
    [job] = [j for j in _jobs(stack) if j["name"] == f"{prefix}-{pipeline}-schedule-datacheck"]
    [trigger] = [
        t for t in resources(stack, "google_cloudbuild_trigger") if t["name"] == f"{prefix}-{pipeline}-datacheck"
    ]
    return job, trigger


def _unscheduled(config, *pipelines):
    """`config` with no data.schedule for `pipelines` (every pipeline if none is named)."""
    return config.model_copy(
        update={
            "pipelines": {
                name: s.model_copy(update={"data": s.data.model_copy(update={"schedule": None})})
                if not pipelines or name in pipelines
                else s
                for name, s in config.pipelines.items()
            }
        }
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_job_runs_its_manual_datacheck_trigger_on_its_schedule(stacks, configs, env):
    gcp = configs[env].gcp
    assert len(_jobs(stacks[env])) == len(configs[env].pipelines) == 2  # every pipeline has a data.schedule
    for each in configs[env].each_pipeline():
        pipeline, schedule = each.selected, each.data.schedule
        job, trigger = _datacheck(stacks[env], configs[env], pipeline)
        assert (job["name"], job["schedule"], job["time_zone"]) == (
            f"penguins-{env}-{pipeline}-schedule-datacheck",
            schedule.cron,
            schedule.time_zone,
        )
        target = job["http_target"]
        assert target["http_method"] == "POST"
        # The pipeline's own trigger, not another's.
        reference = rf"google_cloudbuild_trigger\.build-triggers_{pipeline}-datacheck_[0-9A-F]{{8}}\.trigger_id"
        trigger_id = rf"\$\{{{reference}\}}"
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
        assert trigger["substitutions"]["_PIPELINE"] == pipeline  # its build checks this pipeline's data


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_scheduler_may_only_create_builds_and_act_as_the_datacheck_and_monitor_accounts(configs, env):
    scheduler = [b for b in access.bindings(configs[env]) if b.grant.account == "scheduler"]
    # A publisher grant on each pipeline's trigger topic; the runner role; acting as the two scheduled builds' accounts.
    assert len(scheduler) == 3 + len(configs[env].pipelines)
    assert {(b.resource_type, b.role) for b in scheduler} == {
        ("topic", "roles/pubsub.publisher"),
        ("project", f"projects/my-{env}-project/roles/penguins_{env}_build_runner"),
        ("service-account", "roles/iam.serviceAccountUser"),
    }
    acting = {b.resource for b in scheduler if b.resource_type == "service-account"}
    assert acting == {
        f"projects/my-{env}-project/serviceAccounts/penguins-{env}-{key}@my-{env}-project.iam.gserviceaccount.com"
        for key in ("datacheck", "monitor")
    }
    assert access.CUSTOM_ROLES["build-runner"].permissions == ("cloudbuild.builds.create",)


def test_no_data_schedule_no_job_and_no_scheduler_grants_the_triggers_stay_for_runs_by_hand(configs):
    dev = configs["dev"]
    unscheduled = _unscheduled(dev)
    assert all(each.data.schedule is None for each in unscheduled.each_pipeline())
    stack = synth_stack(unscheduled)
    assert not any("datacheck" in j["name"] for j in resources(stack, "google_cloud_scheduler_job"))
    manual = {t["name"] for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-datacheck")}
    assert manual == {f"penguins-dev-{p}-datacheck" for p in dev.pipelines}
    # What is left of the scheduler's grants: publishing each pipeline's schedules: entries, and starting the
    # monitor builds (dev schedules them) as the monitor account; nothing of the data check's.
    scheduler = {(b.resource_type, b.resource) for b in access.bindings(unscheduled) if b.grant.account == "scheduler"}
    assert scheduler == {
        ("topic", f"projects/my-dev-project/topics/penguins-dev-{p}-trigger") for p in dev.pipelines
    } | {
        ("project", "my-dev-project"),
        (
            "service-account",
            "projects/my-dev-project/serviceAccounts/penguins-dev-monitor@my-dev-project.iam.gserviceaccount.com",
        ),
    }


def test_one_pipelines_data_schedule_is_one_job_and_keeps_the_scheduler_grants(configs):
    """The scheduler's data-check grants hold while any pipeline schedules its check (SCHEDULED_CHECK)."""
    dev = configs["dev"]
    only_penguins = _unscheduled(dev, "diabetes")
    stack = synth_stack(only_penguins)
    assert [j["name"] for j in _jobs(stack)] == ["penguins-dev-penguins-schedule-datacheck"]
    manual = {t["name"] for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-datacheck")}
    assert manual == {"penguins-dev-diabetes-datacheck", "penguins-dev-penguins-datacheck"}
    scheduler = [b for b in access.bindings(only_penguins) if b.grant.account == "scheduler"]
    assert {b.grant for b in scheduler} == {b.grant for b in access.bindings(dev) if b.grant.account == "scheduler"}


@pytest.mark.parametrize("pipeline", ["diabetes", "penguins"])
def test_the_request_body_is_the_trigger_run_request(stacks, configs, pipeline):
    """What Terraform renders: base64 of {"projectId", "triggerId"}, the RunBuildTriggerRequest fields, for the
    pipeline's own trigger."""
    job, _ = _datacheck(stacks["dev"], configs["dev"], pipeline)
    expression = job["http_target"]["body"]
    assert expression.startswith("${base64encode(jsonencode({") and '"projectId" = "my-dev-project"' in expression
    assert re.search(
        rf'"triggerId" = google_cloudbuild_trigger\.build-triggers_{pipeline}-datacheck_[0-9A-F]{{8}}\.trigger_id',
        expression,
    )
