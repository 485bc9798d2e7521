"""Flow 2, an event: a Scheduler job's payload becomes exactly one PipelineJob, through Pub/Sub and the function.

Per pipeline: its Scheduler job (<prefix>-<pipeline>-schedule-<name>) publishes to its own topic
(<prefix>-<pipeline>-trigger), which its own function serves. The job's publish request goes to the stand-in
as the scheduler account; Pub/Sub pushes the message to the trigger function (served from its deployed zip) as
Eventarc's trigger account; the function must acknowledge it and have created exactly one PipelineJob, labelled with
the template it ran. The same message delivered again must be acknowledged and start nothing new. The message names
its pipeline; one naming the environment's other pipeline (a real one, whose own function would run it), published
by the same account to this pipeline's topic, must be acknowledged and start nothing (the function runs only its
own).
"""

from __future__ import annotations

import base64
import json
import time

import requests

from rehearsal.context import Env, json_lines
from rehearsal.flows import scheduler

FLOW = "2 schedule"


def run(env: Env) -> None:
    names = [env.resource(f"schedule-{schedule.name}") for schedule in env.config.schedules]
    publishing = [job for job in scheduler.jobs(env) if job.name in names and "pubsub.googleapis.com" in job.uri]
    if not publishing:
        env.fail(FLOW, f"the stack has no Scheduler job {' or '.join(names) or '(no schedule)'} that publishes")
        return
    job = publishing[0]
    topic = env.resource("trigger")
    if not env.check(
        job.uri.endswith(f"/topics/{topic}:publish"),
        FLOW,
        f"Scheduler job {job.name} publishes to its pipeline's topic {topic}",
        f"Scheduler job {job.name} publishes to {job.uri}, not to its pipeline's topic {topic}",
    ):
        return
    mark = env.log_mark()
    before = {j["name"] for j in env.jobs()}
    answer = scheduler.send(env, job)
    if not env.check(
        answer.status_code == 200,
        FLOW,
        f"Scheduler job {job.name} published as {job.account}",
        f"Scheduler job {job.name}'s publish answered {answer.status_code}: {answer.text[:300]}",
        env.why(mark),
    ):
        return
    [message_id] = answer.json()["messageIds"]
    deliveries = [d for d in env.standin.pubsub.deliveries if d.message_id == message_id]
    if not env.check(
        bool(deliveries), FLOW, f"message {message_id} pushed to the function", "no function subscribes to the topic"
    ):
        return
    delivery = deliveries[0]
    delivery.done.wait(max(1.0, env.deadline - time.monotonic()))
    function_log = env.facts.get("function log", lambda: [])()
    status, text = delivery.attempts[-1] if delivery.attempts else (0, "no attempt")
    if not env.check(
        delivery.acknowledged,
        FLOW,
        f"the function acknowledged it ({status})",
        f"the function answered {status} to {len(delivery.attempts)} attempt(s): {text[:200]}",
        env.why(mark) + [f"function log: {line}" for line in _errors(function_log)],
    ):
        return
    new = [j for j in env.jobs() if j["name"] not in before]
    if not env.check(
        len(new) == 1,
        FLOW,
        f"exactly one PipelineJob: {new[0]['name'].rsplit('/', 1)[-1] if new else ''}",
        f"{len(new)} PipelineJob(s) from one message (expected exactly one)",
        env.why(mark),
    ):
        return
    labels = new[0].get("labels") or {}
    env.check(
        bool(labels.get("template")),
        FLOW,
        f"labelled with its template {labels.get('template')} "
        f"({labels.get('template_source', 'no template_source label')})",
        "the job names no template in its labels",
    )
    env.facts["event job"] = new[0]
    redelivered = env.standin.pubsub.redeliver(message_id)
    for again in redelivered:
        again.done.wait(max(1.0, env.deadline - time.monotonic()))
    after = [j for j in env.jobs() if j["name"] not in before]
    env.check(
        all(d.acknowledged for d in redelivered) and len(after) == 1,
        FLOW,
        "a redelivery of the same message is acknowledged and starts nothing new",
        f"the redelivery: {[d.attempts[-1][0] for d in redelivered if d.attempts]}, {len(after)} job(s) now",
    )
    sent = json.loads(base64.b64decode(env.standin.pubsub.messages[message_id].data))
    _another_pipelines_message(env, job, sent, before)


def _another_pipelines_message(env: Env, job: scheduler.Job, sent: dict, before: set[str]) -> None:
    """The job's message names its pipeline; the same one naming the environment's other pipeline is refused."""
    if not env.check(
        sent.get("pipeline") == env.pipeline,
        FLOW,
        f"the Scheduler's message names its pipeline ({env.pipeline})",
        f"the Scheduler's message names pipeline {sent.get('pipeline')!r}, not {env.pipeline!r}",
    ):
        return
    name = (env.others or ["another"])[0]
    key = f"rehearsal-other-pipeline-{name}"
    other = {**sent, "pipeline": name, "idempotency_key": key}
    before_all = {j["name"] for j in env.project_jobs()}
    body = {"messages": [{"data": base64.b64encode(json.dumps(other).encode()).decode()}]}
    token = env.standin.identities.token_for(job.account)
    url = f"{env.standin.base_url}/{job.uri.removeprefix('https://')}"
    answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if answer.status_code != 200:
        env.fail(FLOW, f"publishing {name}'s message answered {answer.status_code}: {answer.text[:200]}")
        return
    [message_id] = answer.json()["messageIds"]
    for delivery in [d for d in env.standin.pubsub.deliveries if d.message_id == message_id]:
        delivery.done.wait(max(1.0, env.deadline - time.monotonic()))
    delivered = [d for d in env.standin.pubsub.deliveries if d.message_id == message_id]
    started = [j for j in env.jobs() if j["name"] not in before]
    # Any job the message started, whichever pipeline's (the function labels a run with the message's key).
    theirs = [
        j
        for j in env.project_jobs()
        if j["name"] not in before_all and (j.get("labels") or {}).get("trigger") in (key, message_id)
    ]
    # The function says why it started nothing: its log's refusal of that message, on the pipeline field.
    refusal = next(
        (
            line
            for line in json_lines("\n".join(env.facts.get("function log", lambda lines: [])(400)))
            if line.get("event") == "refused" and str(line.get("message_id")) == str(message_id)
        ),
        {},
    )
    env.check(
        bool(delivered)
        and all(d.acknowledged for d in delivered)
        and len(started) == 1
        and not theirs
        and refusal.get("field") == "pipeline",
        FLOW,
        f"a message naming pipeline {name}, sent to {env.pipeline}'s topic, is acknowledged and starts nothing: "
        f"refused ({refusal.get('reason')})",
        f"{name}'s message on {env.pipeline}'s topic: acknowledged {[d.acknowledged for d in delivered]}, "
        f"{len(started)} {env.pipeline} job(s) now, {len(theirs)} started by it, "
        f"the function's refusal: {refusal or 'none logged'}",
    )


def _errors(lines: list[str]) -> list[str]:
    found = [line.strip() for line in lines if "ERROR" in line or "Error" in line or "error" in line]
    return found[-2:]
