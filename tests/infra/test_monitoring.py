"""Monitoring: the notification channel and the three alert policies, with filters that name the right things."""

from __future__ import annotations

import pytest

from infra.parts.monitoring import function_failure_filter, pipeline_failure_filter
from tests.infra.conftest import resources


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


def test_function_failures_alert_on_its_cloud_run_service(stacks):
    policy = _policies(stacks["prod"])["penguins-prod-trigger-failed"]
    (condition,) = policy["conditions"]
    assert condition["condition_matched_log"]["filter"] == function_failure_filter("penguins-prod-trigger")
    assert 'service_name="penguins-prod-trigger"' in condition["condition_matched_log"]["filter"]
    assert "severity>=ERROR" in condition["condition_matched_log"]["filter"]


def test_dead_letters_alert(stacks):
    policy = _policies(stacks["dev"])["penguins-dev-trigger-dead-letters"]
    threshold = policy["conditions"][0]["condition_threshold"]
    assert 'subscription_id="penguins-dev-trigger-dead-letter"' in threshold["filter"]
    assert threshold["comparison"] == "COMPARISON_GT"
