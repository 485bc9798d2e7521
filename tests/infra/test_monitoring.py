"""Monitoring: the notification channel, the environment's pipeline-failure alert and each pipeline's function
failure and dead-letter alerts, with filters that name the right things."""

from __future__ import annotations

import pytest

from infra.parts.monitoring import function_failure_filter, pipeline_failure_filter
from tests.infra.conftest import resolve, resources


def _policies(stack):
    return {p["display_name"]: p for p in resources(stack, "google_monitoring_alert_policy")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_email_channel_from_the_environment_file(stacks, configs, env):
    (channel,) = resources(stacks[env], "google_monitoring_notification_channel")
    assert channel["type"] == "email"
    assert channel["labels"] == {"email_address": configs[env].gcp.monitoring.alert_email}


def test_pipeline_failures_alert(stacks):
    policy = _policies(stacks["prod"])["penguins-prod-pipeline-failed"]
    (condition,) = policy["conditions"]
    assert condition["condition_matched_log"]["filter"] == pipeline_failure_filter()
    assert 'resource.type="aiplatform.googleapis.com/PipelineJob"' in pipeline_failure_filter()
    assert "PIPELINE_STATE_FAILED" in pipeline_failure_filter()
    assert policy["alert_strategy"]["notification_rate_limit"] == {"period": "300s"}
    assert len(policy["notification_channels"]) == 1


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_pipeline_failure_alert_and_each_pipelines_function_dead_letter_and_drift_alerts(stacks, configs, env):
    expected = {f"penguins-{env}-pipeline-failed"} | {
        f"penguins-{env}-{p}-{kind}"
        for p in configs[env].pipelines
        for kind in ("trigger-failed", "trigger-dead-letters")
    }
    # Every pipeline's monitoring.action alerts (or retrains) in both files: test_monitor.py has the rest.
    expected |= {f"penguins-{env}-{p} model drift" for p in configs[env].pipelines}
    assert set(_policies(stacks[env])) == expected
    assert len(expected) == 1 + 3 * len(configs[env].pipelines) == 7


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_function_failures_alert_on_its_cloud_run_service(stacks, configs, env):
    for pipeline in sorted(configs[env].pipelines):
        policy = _policies(stacks[env])[f"penguins-{env}-{pipeline}-trigger-failed"]
        (condition,) = policy["conditions"]
        log_filter = resolve(stacks[env], condition["condition_matched_log"]["filter"])
        function = f"penguins-{env}-{pipeline}-trigger"
        assert log_filter == function_failure_filter(function)
        assert f'service_name="{function}"' in log_filter
        assert "severity>=ERROR" in log_filter
        assert policy["alert_strategy"]["notification_rate_limit"] == {"period": "300s"}
        assert len(policy["notification_channels"]) == 1


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_dead_letters_alert(stacks, configs, env):
    for pipeline in sorted(configs[env].pipelines):
        policy = _policies(stacks[env])[f"penguins-{env}-{pipeline}-trigger-dead-letters"]
        threshold = policy["conditions"][0]["condition_threshold"]
        log_filter = resolve(stacks[env], threshold["filter"])
        assert f'subscription_id="penguins-{env}-{pipeline}-trigger-dead-letter"' in log_filter
        assert threshold["comparison"] == "COMPARISON_GT"
        assert len(policy["notification_channels"]) == 1
