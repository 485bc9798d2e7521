"""The Pub/Sub message inside a messagePublished CloudEvent (what Eventarc posts for each message)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from contracts.trigger_message import MAX_MESSAGE_BYTES, MessageError

_MESSAGE_ID_MAX = 256


@dataclass(frozen=True)
class PubSubMessage:
    message_id: str
    data: bytes
    attributes: dict[str, str]


def decode_event(cloud_event: Any) -> PubSubMessage:
    """The Pub/Sub message in a messagePublished CloudEvent; raises MessageError if it is not one."""
    envelope = cloud_event.data
    if isinstance(envelope, (bytes, bytearray, str)):
        try:
            envelope = json.loads(envelope)
        except (ValueError, RecursionError):
            envelope = None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise MessageError("message", "the event is not a Pub/Sub message (no data.message object)")
    message_id = message.get("messageId") or message.get("message_id") or event_id(cloud_event)
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= _MESSAGE_ID_MAX:
        raise MessageError("message.messageId", f"expected a message id of 1-{_MESSAGE_ID_MAX} characters")
    return PubSubMessage(message_id=message_id, data=_data(message), attributes=_attributes(message))


def _data(message: dict[str, Any]) -> bytes:
    encoded = message.get("data")
    if encoded is None or encoded == "":
        raise MessageError("message.data", "the message has no data (expected a JSON object, base64-encoded)")
    if not isinstance(encoded, str):
        raise MessageError("message.data", "expected a base64 string")
    # Refused before decoding: base64 is 4 characters per 3 bytes.
    if len(encoded) > 4 * (MAX_MESSAGE_BYTES // 3 + 1):
        raise MessageError("message", f"larger than the limit of {MAX_MESSAGE_BYTES} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError("message.data", "not valid base64") from None


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in attributes.items()
    ):
        raise MessageError("message.attributes", "expected an object of string values")
    return attributes


def event_id(cloud_event: Any) -> str | None:
    """The CloudEvent's id (Eventarc sets it to the Pub/Sub message id), if it has a string one."""
    try:
        value = cloud_event["id"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None
