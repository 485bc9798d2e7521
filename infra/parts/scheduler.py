"""Cloud Scheduler jobs from each pipeline's `schedules:` in the environment file: each publishes its
TriggerMessage on its pipeline's trigger topic, as `<prefix>-<pipeline>-schedule-<name>`.

The payload is validated by the function's own schema (parse_message) and the job sends what that schema
accepted, serialized and naming the schedule's pipeline, so an invalid schedule fails synthesis rather than
every run in production.

Why an HTTP target (the Pub/Sub publish API) rather than `pubsub_target`: a pubsub_target job publishes as the
Cloud Scheduler service agent, whose project-wide role may publish to every topic; an HTTP target calls
`topics.publish` with an OAuth token of the scheduler's own account, which may publish to the pipelines'
trigger topics only (the access table's grants, infra/access.py). The message the function receives is the
same either way.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cdktf_cdktf_provider_google.cloud_scheduler_job import CloudSchedulerJob
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from constructs import Construct

from contracts.environment import Gcp, Schedule
from contracts.trigger_message import parse_message
from infra.parts.service_accounts import ServiceAccounts


def message_data(schedule: Schedule, pipeline: str) -> bytes:
    """The TriggerMessage the job sends, naming its pipeline, as the JSON bytes the function decodes (raises
    MessageError, also for a payload that names another pipeline)."""
    message = parse_message(schedule.payload).for_pipeline(pipeline)
    fields = {**message.model_dump(mode="json", exclude_none=True), "pipeline": pipeline}
    data = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    parse_message(data)  # What we send must round-trip through the function's parser.
    return data.encode()


def publish_body(schedule: Schedule, pipeline: str) -> dict[str, Any]:
    """The topics.publish request body: one message whose data is the base64 TriggerMessage."""
    return {"messages": [{"data": base64.b64encode(message_data(schedule, pipeline)).decode()}]}


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        gcp: Gcp,
        pipeline: str,
        schedules: list[Schedule],
        accounts: ServiceAccounts,
        topic: PubsubTopic,
    ) -> None:
        super().__init__(scope, id_)
        self.jobs = [
            oauth_post_job(
                self,
                schedule.name,
                gcp,
                accounts,
                name=gcp.pipeline_resource(pipeline, f"schedule-{schedule.name}"),
                description=(
                    f"Publishes a TriggerMessage to the {pipeline} trigger topic "
                    f"({schedule.cron}, {schedule.time_zone})"
                ),
                cron=schedule.cron,
                time_zone=schedule.time_zone,
                uri=f"https://pubsub.googleapis.com/v1/projects/{gcp.project}/topics/{topic.name}:publish",
                body=base64.b64encode(json.dumps(publish_body(schedule, pipeline)).encode()).decode(),
                oauth_scope="https://www.googleapis.com/auth/pubsub",
            )
            for schedule in schedules
        ]


def oauth_post_job(
    scope: Construct,
    id_: str,
    gcp: Gcp,
    accounts: ServiceAccounts,
    *,
    name: str,
    description: str,
    cron: str,
    time_zone: str,
    uri: str,
    body: str,
    oauth_scope: str,
) -> CloudSchedulerJob:
    """A Cloud Scheduler job that POSTs `body` (JSON, base64-encoded as Cloud Scheduler takes it) to a Google
    API as the scheduler account, with an OAuth token: the one shape of every job here."""
    return CloudSchedulerJob(
        scope,
        id_,
        project=gcp.project,
        region=gcp.region,
        name=name,
        description=description,
        schedule=cron,
        time_zone=time_zone,
        attempt_deadline="60s",
        retry_config={"retry_count": 3},
        http_target={
            "http_method": "POST",
            "uri": uri,
            "headers": {"Content-Type": "application/json"},
            "body": body,
            "oauth_token": {"service_account_email": accounts.email("scheduler"), "scope": oauth_scope},
        },
    )
