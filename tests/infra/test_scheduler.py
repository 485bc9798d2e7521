"""Scheduler jobs: each pipeline's, payloads validated by the function's schema, published as the scheduler
account on the pipeline's own trigger topic."""

from __future__ import annotations

import base64
import json
import re

import pytest

from contracts.environment import Schedule
from contracts.trigger_message import MessageError, parse_message
from infra.parts.scheduler import message_data, publish_body
from tests.infra.conftest import resolve, resources


def _published_messages(job):
    body = json.loads(base64.b64decode(job["http_target"]["body"]))
    return [base64.b64decode(m["data"]) for m in body["messages"]]


def _topic(text: str) -> str:
    """The google_pubsub_topic resource a reference in `text` names."""
    (address,) = re.findall(r"\$\{google_pubsub_topic\.([A-Za-z0-9_-]+)\.(?:id|name)\}", text)
    return address


def _jobs(stack):
    """The schedules: entries' jobs by name (the data-check and monitor jobs are test_datacheck_schedule.py's and
    test_monitor.py's)."""
    jobs = resources(stack, "google_cloud_scheduler_job")
    return {j["name"]: j for j in jobs if not j["name"].endswith(("-schedule-datacheck", "-schedule-monitor"))}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_schedule_is_a_job_whose_message_the_function_accepts(stacks, configs, env):
    jobs = _jobs(stacks[env])
    assert len(jobs) == sum(len(each.schedules) for each in configs[env].each_pipeline()) == 2
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        for schedule in each.schedules:
            job = jobs[f"penguins-{env}-{pipeline}-schedule-{schedule.name}"]
            assert (job["schedule"], job["time_zone"]) == (schedule.cron, schedule.time_zone)
            (data,) = _published_messages(job)
            message = parse_message(data)
            # The schedule's payload, naming the pipeline whose schedule it is (the function runs only its own).
            assert message == parse_message({**schedule.payload, "pipeline": pipeline})
            assert message.source == "scheduler" and message.pipeline == pipeline


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_jobs_publish_as_the_scheduler_account_to_its_trigger_topic(stacks, configs, env):
    jobs = _jobs(stacks[env])
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        for schedule in each.schedules:
            target = jobs[f"penguins-{env}-{pipeline}-schedule-{schedule.name}"]["http_target"]
            assert target["http_method"] == "POST"
            assert target["uri"].startswith(f"https://pubsub.googleapis.com/v1/projects/my-{env}-project/topics/")
            assert f"${{google_pubsub_topic.trigger-{pipeline}_topic_" in target["uri"]
            assert target["uri"].endswith(":publish")
            assert "accounts_scheduler" in target["oauth_token"]["service_account_email"]
    publishers = [g for g in resources(stacks[env], "google_pubsub_topic_iam_member") if "scheduler" in g["member"]]
    assert sorted((g["role"], resolve(stacks[env], g["topic"])) for g in publishers) == [
        ("roles/pubsub.publisher", f"penguins-{env}-{p}-trigger") for p in sorted(configs[env].pipelines)
    ]


def test_a_diabetes_job_publishes_to_the_diabetes_topic_a_message_naming_diabetes(stacks, configs):
    """The topic the diabetes function subscribes to, not penguins': a message there starts a diabetes run."""
    stack = stacks["dev"]
    [schedule] = configs["dev"].pipelines["diabetes"].schedules
    job = _jobs(stack)[f"penguins-dev-diabetes-schedule-{schedule.name}"]
    topic = "penguins-dev-diabetes-trigger"
    uri = f"https://pubsub.googleapis.com/v1/projects/my-dev-project/topics/{topic}:publish"
    assert resolve(stack, job["http_target"]["uri"]) == uri
    (data,) = _published_messages(job)
    assert parse_message(data).pipeline == "diabetes"
    assert json.loads(data)["pipeline"] == "diabetes"
    [function] = [f for f in resources(stack, "google_cloudfunctions2_function") if f["name"] == topic]
    assert function["service_config"]["environment_variables"]["PIPELINE"] == "diabetes"
    # The same topic resource: the job publishes on what the function's Eventarc trigger subscribes to.
    assert _topic(function["event_trigger"]["pubsub_topic"]) == _topic(job["http_target"]["uri"])


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
