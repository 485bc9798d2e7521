"""Pub/Sub v1 topics.publish as a stand-in answers it, for the tests' Google API stand-in (tests/gcs_fake.py
`serving(..., others={"pubsub.googleapis.com": fake.answer})`).

Grounded in the pubsub v1 discovery document (google-api-python-client 2.x): POST v1/{+topic}:publish with a
PublishRequest {messages: [PubsubMessage]}; a message carries `data` (base64 bytes) and/or `attributes`
(string map), "if attributes is empty, the message must contain non-empty data"; `messageId` and
`publishTime` "must not be populated by the publisher"; the answer is a PublishResponse {messageIds}, one id
per message in order. An unknown topic is NOT_FOUND, as Pub/Sub answers it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field

_PUBLISH = re.compile(r"^/v1/(projects/[^/]+/topics/[^/:]+):publish$")
_PUBLISHER_FIELDS = {"data", "attributes", "orderingKey"}


@dataclass
class FakePubsub:
    topics: set[str]
    # (topic, message) of every message published, in order.
    published: list[tuple[str, dict]] = field(default_factory=list)
    # Set to an HTTP status to refuse the next publish with it (e.g. 503, as a transient failure).
    fail_next: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict]:
        match = _PUBLISH.match(path)
        if method != "POST" or not match:
            return _error(400, f"{method} {path}: not answered by the Pub/Sub fake")
        with self.lock:
            if self.fail_next is not None:
                status, self.fail_next = self.fail_next, None
                return _error(status, "the fake refused this publish")
            return self._publish(match.group(1), json.loads(body or b"{}"))

    def _publish(self, topic: str, request: dict) -> tuple[int, dict]:
        if topic not in self.topics:
            return _error(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).")
        messages = request.get("messages")
        if set(request) - {"messages"} or not isinstance(messages, list) or not messages:
            return _error(400, "PublishRequest: messages is required and is the only field")
        for message in messages:
            problem = _check(message)
            if problem:
                return _error(400, problem)
        ids = []
        for message in messages:
            self.published.append((topic, message))
            ids.append(str(len(self.published)))
        return 200, {"messageIds": ids}


def _check(message: dict) -> str | None:
    unknown = set(message) - _PUBLISHER_FIELDS
    if unknown:
        return f"PubsubMessage: {sorted(unknown)} may not be set by a publisher"
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        return "PubsubMessage.attributes: a map of strings"
    if not attributes and not base64.b64decode(message.get("data", "")):
        return "PubsubMessage: a message without attributes must contain non-empty data"
    return None


def _error(status: int, message: str) -> tuple[int, dict]:
    names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 503: "UNAVAILABLE"}
    return status, {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}
