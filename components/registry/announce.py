"""Announcing a registered version: one Pub/Sub message on its pipeline's `<prefix>-<pipeline>-model-registered`
topic.

RegistryPush registers and announces; it never promotes. What promotes listens on the topic: on Google Cloud,
where the environment auto-promotes, a Pub/Sub-triggered Cloud Build trigger runs `auto-promote` with
`$(body.message.attributes.version)`. So the message is attributes only (what a trigger's substitutions
read): `version`, `model` (the Vertex model's resource name) and `run` (the pipeline run that registered
it). A rerun of the push announces again; auto-promoting a version that is already champion does nothing.

Pub/Sub v1 topics.publish over REST, with the endpoint from contracts/google_apis.py and Application Default
Credentials (the pipeline's account in a Vertex step).
"""

from __future__ import annotations

from typing import Any

from contracts.google_apis import PUBSUB_HOST, TRANSPORT, client_options
from contracts.registry import RegistryError


def registered_attributes(*, version: str, model: str, run: str) -> dict[str, str]:
    return {"version": version, "model": model, "run": run}


def announce(topic: str, attributes: dict[str, str], credentials: Any = None) -> str:
    """Publish one message with `attributes` (and no data) to `topic`; its message id. RegistryError on failure."""
    from google.api_core import exceptions
    from google.pubsub_v1 import PubsubMessage
    from google.pubsub_v1.services.publisher import PublisherClient

    client = PublisherClient(credentials=credentials, transport=TRANSPORT, client_options=client_options(PUBSUB_HOST))
    try:
        response = client.publish(topic=topic, messages=[PubsubMessage(attributes=attributes)])
    except exceptions.GoogleAPICallError as err:
        raise RegistryError(
            f"announcing version {attributes.get('version')} on {topic} failed ({err}); the version stays "
            "registered: rerun the push to announce it again"
        ) from err
    return str(response.message_ids[0])
