"""Alerts: a failed pipeline run, per pipeline a failed trigger function execution and a dead-lettered message, and
the monitor's flagged windows.

Pipeline runs: Vertex AI logs each PipelineJob state change on resource type
`aiplatform.googleapis.com/PipelineJob`; a log-match condition on PIPELINE_STATE_FAILED fires once per failed
run, with no log-based metric to maintain. The function: 2nd-gen functions run as Cloud Run services of the
same name, and an execution that raises (what makes Pub/Sub retry) is logged at ERROR on that service's
`cloud_run_revision`; a refused message is logged at WARNING and acknowledged, so it does not page anyone.
Dead letters: any message on the dead-letter subscription means a run was requested and never started.

The monitor (release/monitor/act.py) writes one point of the custom metric FLAGGED_METRIC per decided window of a
pipeline whose monitoring.action is alert or retrain: 1 flagged, 0 not, labelled with the pipeline and the
environment, on the `global` resource. The stack declares the metric (its kind, type and labels) and, for each
such pipeline, a policy `<prefix>-<pipeline> model drift` that fires on a point above 0 and closes on the next 0.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionMatchedLog,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
)
from cdktf_cdktf_provider_google.monitoring_metric_descriptor import (
    MonitoringMetricDescriptor,
    MonitoringMetricDescriptorLabels,
)
from cdktf_cdktf_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from constructs import Construct

from contracts.environment import DRIFT_METRIC, EnvironmentConfig, Gcp

# What the monitor writes (release/monitor/act.py: FLAGGED_METRIC). Not imported from there: the CDKTF app's import
# closure stays out of release/ (ci/routing.py's infra route); tests/infra/test_monitoring.py holds the two equal.
FLAGGED_METRIC = DRIFT_METRIC
# Its labels (the monitor sets exactly these on every point), with what they say.
FLAGGED_LABELS = {"pipeline": "the pipeline", "environment": "the environment (dev, prod)"}
# The monitoring.action values whose flagged windows alert.
ALERTING_ACTIONS = ("alert", "retrain")
_LOG_ALERT_STRATEGY = {"notification_rate_limit": {"period": "300s"}, "auto_close": "1800s"}


def pipeline_failure_filter() -> str:
    return 'resource.type="aiplatform.googleapis.com/PipelineJob" AND jsonPayload.state="PIPELINE_STATE_FAILED"'


def function_failure_filter(function_name: str) -> str:
    return f'resource.type="cloud_run_revision" AND resource.labels.service_name="{function_name}" AND severity>=ERROR'


def flagged_filter(metric_type: str, pipeline: str, environment: str) -> str:
    """The pipeline's series of the flagged metric in the environment (`metric_type`: the descriptor's type)."""
    return (
        f'resource.type="global" AND metric.type="{metric_type}" AND '
        f'metric.labels.pipeline="{pipeline}" AND metric.labels.environment="{environment}"'
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        triggers: dict[str, tuple[str, str]],
    ) -> None:
        """`triggers`: each pipeline's trigger function and dead-letter subscription, by pipeline."""
        super().__init__(scope, id_)
        channels: list[str] = []
        if gcp.monitoring.alert_email:
            channel = MonitoringNotificationChannel(
                self,
                "email",
                project=gcp.project,
                display_name=gcp.name("alerts"),
                type="email",
                labels={"email_address": gcp.monitoring.alert_email},
            )
            channels.append(channel.name)
        self.policies = [
            _log_alert(
                self,
                gcp,
                channels,
                "pipeline-failed",
                "A Vertex AI pipeline run failed: open the run in the console.",
                "PipelineJob state PIPELINE_STATE_FAILED",
                pipeline_failure_filter(),
            )
        ]
        for pipeline, (function_name, dead_letter_subscription) in triggers.items():
            self.policies += [
                _log_alert(
                    self,
                    gcp,
                    channels,
                    f"{pipeline}-trigger-failed",
                    f"The {pipeline} trigger function raised: the message will be retried. Check its logs.",
                    "ERROR logged by the trigger function",
                    function_failure_filter(function_name),
                    id_=f"function-failed-{pipeline}",
                ),
                _dead_letter_alert(self, gcp, channels, pipeline, dead_letter_subscription),
            ]
        self.flagged = MonitoringMetricDescriptor(
            self,
            "flagged",
            project=gcp.project,
            type=FLAGGED_METRIC,
            metric_kind="GAUGE",
            value_type="INT64",
            display_name="ML monitor: window flagged",
            description=(
                "1 when the monitor flagged a window of a pipeline's served requests (drift, or too many refused), "
                "0 when it judged one and found nothing (release/monitor/)"
            ),
            labels=[
                MonitoringMetricDescriptorLabels(key=key, value_type="STRING", description=what)
                for key, what in FLAGGED_LABELS.items()
            ],
        )
        for each in config.each_pipeline():
            if each.monitoring.action in ALERTING_ACTIONS:
                self.policies.append(_drift_alert(self, gcp, channels, each, self.flagged.type))


def _dead_letter_alert(
    scope: Construct, gcp: Gcp, channels: list[str], pipeline: str, subscription: str
) -> MonitoringAlertPolicy:
    """Any message on the pipeline's dead-letter subscription: a run was requested and never started."""
    return MonitoringAlertPolicy(
        scope,
        f"dead-letters-{pipeline}",
        project=gcp.project,
        display_name=gcp.pipeline_resource(pipeline, "trigger-dead-letters"),
        combiner="OR",
        notification_channels=channels,
        documentation={
            "content": f"{pipeline} trigger messages were dead-lettered: runs were requested and never started.",
            "mime_type": "text/markdown",
        },
        conditions=[
            MonitoringAlertPolicyConditions(
                display_name="messages on the dead-letter subscription",
                condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=(
                        'resource.type="pubsub_subscription" AND '
                        f'resource.labels.subscription_id="{subscription}" AND '
                        'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"'
                    ),
                    comparison="COMPARISON_GT",
                    threshold_value=0,
                    duration="0s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="300s", per_series_aligner="ALIGN_MAX"
                        )
                    ],
                ),
            )
        ],
    )


def _drift_alert(
    scope: Construct, gcp: Gcp, channels: list[str], each: EnvironmentConfig, metric_type: str
) -> MonitoringAlertPolicy:
    """A point above 0 of the pipeline's flagged metric: the monitor flagged a window (and, with action retrain,
    requested a training run). The next window judged clear writes 0, which closes the incident. `metric_type` is
    the descriptor's (a reference: the policy waits for the metric to exist)."""
    pipeline = each.selected
    retrain = each.monitoring.action == "retrain"
    requested = " A retraining run was requested (monitoring.action: retrain)." if retrain else ""
    return MonitoringAlertPolicy(
        scope,
        f"drift-{pipeline}",
        project=gcp.project,
        display_name=f"{gcp.name(pipeline)} model drift",
        combiner="OR",
        notification_channels=channels,
        documentation={
            "content": (
                f"The monitor flagged a window of {pipeline}'s served requests in {each.name} (features or predictions "
                f"drifted from the champion's training data, or too many requests refused). Its report: "
                f"{each.data_root()}/monitoring/<window>/report.html, or `nox -s monitor -- --env {each.name} "
                f"--pipeline {pipeline} --history`.{requested}"
            ),
            "mime_type": "text/markdown",
        },
        conditions=[
            MonitoringAlertPolicyConditions(
                display_name=f"{pipeline}: a window flagged",
                condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=flagged_filter(metric_type, pipeline, each.name),
                    comparison="COMPARISON_GT",
                    threshold_value=0,
                    duration="0s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="300s", per_series_aligner="ALIGN_MAX"
                        )
                    ],
                ),
            )
        ],
    )


def _log_alert(
    scope: Construct,
    gcp: Gcp,
    channels: list[str],
    kind: str,
    documentation: str,
    condition: str,
    log_filter: str,
    id_: str | None = None,
) -> MonitoringAlertPolicy:
    """An alert policy that fires on a log entry matching `log_filter` (rate-limited by _LOG_ALERT_STRATEGY)."""
    return MonitoringAlertPolicy(
        scope,
        id_ or kind,
        project=gcp.project,
        display_name=gcp.name(kind),
        combiner="OR",
        notification_channels=channels,
        alert_strategy=_LOG_ALERT_STRATEGY,
        documentation={"content": documentation, "mime_type": "text/markdown"},
        conditions=[
            MonitoringAlertPolicyConditions(
                display_name=condition,
                condition_matched_log=MonitoringAlertPolicyConditionsConditionMatchedLog(filter=log_filter),
            )
        ],
    )
