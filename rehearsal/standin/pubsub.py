"""Pub/Sub, API v1 topics.publish, and delivery: to a 2nd-gen function through Eventarc, and to Cloud Build.

Publishing needs pubsub.topics.publish on the topic (https://cloud.google.com/pubsub/docs/access-control).
Each message is then pushed, as Eventarc does for a function's Pub/Sub trigger
(https://cloud.google.com/eventarc/docs/cloudevents): an HTTP POST of the `messagePublished` CloudEvent in
binary mode to the function's URL, made as the trigger's service account, which needs run.routes.invoke on the
function's Cloud Run service; a non-2xx answer is redelivered (the trigger's retry policy), up to
MAX_ATTEMPTS here. A Pub/Sub-triggered Cloud Build trigger on the topic starts one build per message.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import Policy, Target, project_key
from rehearsal.standin.server import Call, Check, LogEntry, RequestLog, Response
from rehearsal.standin.storage import rfc3339

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class FunctionSubscriber:
    """A function's Eventarc trigger on a topic."""

    topic: str  # projects/p/topics/t
    function: str  # the function's name
    service: str  # projects/p/locations/l/services/<name>: the Cloud Run service it runs as
    trigger_account: str  # the Eventarc trigger's service account (email)
    url: Callable[[], str | None]  # where the function answers (the driver serves it); None: not deployed


@dataclass
class Delivery:
    message_id: str
    topic: str
    target: str
    attempts: list[tuple[int, str]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def acknowledged(self) -> bool:
        return bool(self.attempts) and 200 <= self.attempts[-1][0] < 300


@dataclass
class Message:
    topic: str
    message_id: str
    data: str
    attributes: dict[str, str]
    publish_time: float


class PubSub:
    def __init__(self, policy: Policy, log: RequestLog, token_for: Callable[[str], str]) -> None:
        self.policy = policy
        self.log = log
        self.token_for = token_for
        self.topics: dict[str, str] = {}  # projects/p/topics/t -> Terraform address
        self.functions: list[FunctionSubscriber] = []
        self.build_trigger: Callable[[str, dict[str, Any]], list[str]] = lambda topic, body: []
        self.messages: dict[str, Message] = {}
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    def handle(self, call: Call) -> Response:
        if call.method.id != "pubsub.projects.topics.publish":
            raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
        topic = f"projects/{call.params['projectsId']}/topics/{call.params['topicsId']}"
        call.require(
            "pubsub.topics.publish",
            Target(topic, "pubsub.googleapis.com/Topic", (project_key(call.params["projectsId"]),)),
        )
        if topic not in self.topics:
            raise ApiError(404, f"Resource not found (resource={call.params['topicsId']}).")
        messages = (call.body or {}).get("messages") or []
        if not messages:
            raise ApiError(400, "The request contains no messages.")
        ids = []
        for raw in messages:
            data = raw.get("data") or ""
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "Invalid data in message: not valid base64.") from None
            if not data and not raw.get("attributes"):
                raise ApiError(400, "A message must have data or attributes.")
            ids.append(self.publish(topic, data, dict(raw.get("attributes") or {})))
        return Response(json={"messageIds": ids})

    def publish(self, topic: str, data: str, attributes: dict[str, str]) -> str:
        message = Message(topic, str(uuid.uuid4().int % 10**16), data, attributes, time.time())
        with self._lock:
            self.messages[message.message_id] = message
        for subscriber in [s for s in self.functions if s.topic == topic]:
            self._push(subscriber, message)
        self.build_trigger(topic, self.body(message))
        return message.message_id

    def redeliver(self, message_id: str) -> list[Delivery]:
        """Push a message again to its functions, as Pub/Sub's at-least-once delivery may."""
        message = self.messages[message_id]
        return [self._push(s, message) for s in self.functions if s.topic == message.topic]

    @staticmethod
    def body(message: Message) -> dict[str, Any]:
        published = rfc3339(message.publish_time)
        return {
            "message": {
                "data": message.data,
                "attributes": message.attributes,
                "messageId": message.message_id,
                "message_id": message.message_id,
                "publishTime": published,
                "publish_time": published,
            },
            "subscription": f"{message.topic.replace('/topics/', '/subscriptions/eventarc-')}-sub",
        }

    def _push(self, subscriber: FunctionSubscriber, message: Message) -> Delivery:
        delivery = Delivery(message.message_id, message.topic, subscriber.function)
        with self._lock:
            self.deliveries.append(delivery)
        threading.Thread(target=self._deliver, args=(subscriber, message, delivery), daemon=True).start()
        return delivery

    def _deliver(self, subscriber: FunctionSubscriber, message: Message, delivery: Delivery) -> None:
        try:
            for _ in range(MAX_ATTEMPTS):
                status, text = self._attempt(subscriber, message)
                delivery.attempts.append((status, text))
                if 200 <= status < 300:
                    break
        finally:
            delivery.done.set()

    def _attempt(self, subscriber: FunctionSubscriber, message: Message) -> tuple[int, str]:
        member = f"serviceAccount:{subscriber.trigger_account}"
        project = subscriber.service.split("/")[1]
        entry = LogEntry(
            time.time(),
            "run.googleapis.com",
            f"Eventarc push to {subscriber.function}",
            subscriber.trigger_account,
            path=subscriber.service,
            note=f"message {message.message_id}",
        )
        target = Target(subscriber.service, "run.googleapis.com/Service", (project_key(project),))
        decision = self.policy.check(member, "run.routes.invoke", target)
        entry.checks.append(
            Check(
                "run.routes.invoke",
                subscriber.service,
                decision.allowed,
                decision.grant.source if decision.grant else None,
            )
        )
        url = subscriber.url()
        if not decision.allowed:
            status, text = 403, f"{subscriber.trigger_account} may not invoke {subscriber.service} (run.routes.invoke)"
        elif url is None:
            status, text = 503, f"the function {subscriber.function} is not being served"
        else:
            status, text = self._post(url, message, subscriber)
        entry.status = status
        self.log.add(entry)
        return status, text

    def _post(self, url: str, message: Message, subscriber: FunctionSubscriber) -> tuple[int, str]:
        headers = {
            "ce-id": message.message_id,
            "ce-specversion": "1.0",
            "ce-source": f"//pubsub.googleapis.com/{message.topic}",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-time": rfc3339(message.publish_time),
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.token_for(subscriber.trigger_account)}",
        }
        try:
            answer = requests.post(url, json=self.body(message), headers=headers, timeout=120)
        except requests.RequestException as err:
            return 599, f"the push to {url} failed: {err}"
        return answer.status_code, answer.text[:500]
