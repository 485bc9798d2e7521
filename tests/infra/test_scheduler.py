"""Scheduler jobs: payloads validated by the function's schema, published as the scheduler account."""

from __future__ import annotations

import base64
import json

import pytest

from contracts.environment import Schedule
from contracts.trigger_message import MessageError, parse_message
from infra.parts.scheduler import message_data, publish_body
from tests.infra.conftest import resources


def _published_messages(job):
    body = json.loads(base64.b64decode(job["http_target"]["body"]))
    return [base64.b64decode(m["data"]) for m in body["messages"]]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_schedule_is_a_job_whose_message_the_function_accepts(stacks, configs, env):
    jobs = [j for j in resources(stacks[env], "google_cloud_scheduler_job") if "datacheck" not in j["name"]]
    assert len(jobs) == len(configs[env].schedules)
    for job, schedule in zip(jobs, configs[env].schedules, strict=True):
        assert job["name"] == f"penguins-{env}-schedule-{schedule.name}"
        assert (job["schedule"], job["time_zone"]) == (schedule.cron, schedule.time_zone)
        (data,) = _published_messages(job)
        message = parse_message(data)
        # The schedule's payload, naming the pipeline whose schedule it is (the function runs only its own).
        assert message == parse_message({**schedule.payload, "pipeline": configs[env].selected})
        assert message.source == "scheduler" and message.pipeline == "penguins"


def test_job_publishes_as_the_scheduler_account_to_the_trigger_topic(stacks):
    (job,) = [j for j in resources(stacks["prod"], "google_cloud_scheduler_job") if "datacheck" not in j["name"]]
    target = job["http_target"]
    assert target["http_method"] == "POST"
    assert target["uri"].startswith("https://pubsub.googleapis.com/v1/projects/my-prod-project/topics/")
    assert "trigger_topic" in target["uri"] and target["uri"].endswith(":publish")
    assert "accounts_scheduler" in target["oauth_token"]["service_account_email"]
    publishers = [g for g in resources(stacks["prod"], "google_pubsub_topic_iam_member") if "scheduler" in g["member"]]
    assert [(g["role"], "trigger_topic" in g["topic"]) for g in publishers] == [("roles/pubsub.publisher", True)]


def test_payload_is_the_validated_message_typed():
    schedule = Schedule(name="weekly", cron="0 9 * * 1", payload={"num_epochs": "20", "learning_rate": "1e-2"})
    sent = json.loads(message_data(schedule, "diabetes"))
    assert sent["num_epochs"] == 20 and sent["learning_rate"] == 0.01 and sent["pipeline"] == "diabetes"
    data = publish_body(schedule, "diabetes")["messages"][0]["data"]
    assert data == base64.b64encode(message_data(schedule, "diabetes")).decode()


PAYLOAD = {"num_epochs": "20", "learning_rate": "1e-2"}


def test_invalid_payload_fails_synthesis_naming_the_field():
    # model_construct skips the schema's own check: the construct must still refuse it.
    schedule = Schedule.model_construct(name="bad", cron="0 9 * * 1", time_zone="Etc/UTC", payload={"num_epochs": 3})
    with pytest.raises(MessageError, match="learning_rate"):
        message_data(schedule, "penguins")
    other = Schedule.model_construct(
        name="other", cron="0 9 * * 1", time_zone="Etc/UTC", payload={**PAYLOAD, "pipeline": "diabetes"}
    )
    with pytest.raises(MessageError, match=r"^pipeline: the message is for pipeline 'diabetes'"):
        message_data(other, "penguins")
