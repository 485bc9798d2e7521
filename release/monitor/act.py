"""What a decided window does, as the pipeline's monitoring.action says.

report    nothing beyond the report
alert     Google Cloud: a point of the custom metric custom.googleapis.com/ml_monitor/flagged (1 flagged,
          0 not; labels pipeline, environment) whose alert policy infra provisions; every decided window
          writes one, so the alert also clears. Locally: the command's exit status (1 when flagged).
retrain   also one retraining run per flagged window: a TriggerMessage (source: monitoring, the drifted
          features, idempotency_key monitor-<window id>) on the pipeline's trigger topic, or to its local
          function. The data area's monitoring/<window>/retrain.json, written after the message is taken and
          looked for first under the store's lock, makes a re-run send nothing; a monitor killed between
          the two sends again, and the function's job id (from the idempotency key) starts no second run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from contracts.environment import DRIFT_METRIC, EnvironmentConfig
from contracts.run_request import job_id_for
from contracts.trigger_message import parse_message
from release.datacheck.store import Store, read_json, write_json
from release.monitor.report import RETRAIN, key

FLAGGED_METRIC = DRIFT_METRIC


class ActionError(Exception):
    """The alert or the retraining message could not be sent; the report stands, a re-run sends it."""


def retrain_message(config: EnvironmentConfig, report: dict[str, Any]) -> dict[str, Any]:
    """The TriggerMessage a flagged window sends: the environment's training settings on the newest spans."""
    message = {
        "num_epochs": config.training.num_epochs,
        "learning_rate": config.training.learning_rate,
        "source": "monitoring",
        "idempotency_key": f"monitor-{report['window']['id']}",
        "pipeline": config.dataset,
        "drifted_features": report["drifted"],
    }
    parse_message(message)  # The function's own schema: a message it would refuse is a bug here.
    return message


class Publisher(Protocol):
    def publish(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send the message; what became of it ({"message_id": ..., "job_id": ...})."""
        ...


class PubSubPublisher:
    """The pipeline's trigger topic (Pub/Sub v1 topics.publish over REST): data the message's JSON, and its
    source and idempotency key as attributes, as a Cloud Scheduler job sends them."""

    def __init__(self, topic: str, pipeline_name: str, credentials: Any = None) -> None:
        self.topic = topic
        self.pipeline_name = pipeline_name
        self.credentials = credentials

    def publish(self, message: dict[str, Any]) -> dict[str, Any]:
        import json

        attributes = {"source": message["source"], "idempotency_key": message["idempotency_key"]}
        message_id = publish(self.topic, json.dumps(message).encode(), attributes, self.credentials)
        return {
            "message_id": message_id,
            "topic": self.topic,
            "job_id": job_id_for(self.pipeline_name, message["idempotency_key"]),
        }


def publish(topic: str, data: bytes, attributes: dict[str, str], credentials: Any = None) -> str:
    """One message on `topic` (Pub/Sub v1 topics.publish over REST); its id. ActionError when refused."""
    from google.api_core import exceptions
    from google.pubsub_v1 import PubsubMessage
    from google.pubsub_v1.services.publisher import PublisherClient

    from contracts.google_apis import PUBSUB_HOST, TRANSPORT, client_options

    client = PublisherClient(credentials=credentials, transport=TRANSPORT, client_options=client_options(PUBSUB_HOST))
    try:
        response = client.publish(topic=topic, messages=[PubsubMessage(data=data, attributes=attributes)])
    except exceptions.GoogleAPICallError as err:
        raise ActionError(f"publishing on {topic} failed: {err}") from err
    return str(response.message_ids[0])


class LocalFunctionPublisher:
    """The pipeline's local trigger function (functions-framework on localhost, localcloud/pubsub.py), sent the
    CloudEvent Pub/Sub would send; `backend` overrides the function's backend (tests: the dry-run backend)."""

    def __init__(
        self, config: EnvironmentConfig, local_root: Path, env_file: Path, backend: dict[str, str] | None = None
    ):
        self.config = config
        self.local_root = local_root
        self.env_file = env_file
        self.backend = backend

    def publish(self, message: dict[str, Any]) -> dict[str, Any]:
        from localcloud.pubsub import deliver

        message_id = f"{message['idempotency_key']}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
        status, outcome, log_path = deliver(
            self.local_root, self.env_file, self.config, message, message_id, self.backend
        )
        if status >= 300 or outcome is None or outcome.get("event") != "submitted":
            reason = (outcome or {}).get("reason") or (outcome or {}).get("message") or f"HTTP {status}"
            raise ActionError(f"the local trigger function did not start the run ({reason}); see {log_path}")
        return {"message_id": message_id, "job_id": outcome["job_id"], "created": bool(outcome.get("created"))}


def retrain_once(store: Store, report: dict[str, Any], message: dict[str, Any], publisher: Publisher) -> dict[str, Any]:
    """Send the window's retraining message unless it was sent: the record of what was sent."""
    marker = key(report["window"]["id"], RETRAIN)
    with store.locked():
        sent = read_json(store, marker)
        if sent is not None:
            return {**sent, "already_sent": True}
        outcome = publisher.publish(message)
        record = {"message": message, **outcome, "sent_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        write_json(store, marker, record)
        return {**(read_json(store, marker) or record), "already_sent": False}


Alert = Callable[[dict[str, Any]], None]


MONITORING_SCOPE = "https://www.googleapis.com/auth/monitoring.write"


def cloud_monitoring_alert(project: str, environment: str, credentials: Any = None) -> Alert:
    """Write the window's verdict as a point of FLAGGED_METRIC: monitoring v3 projects.timeSeries.create, over
    REST with an authorized session (google-cloud-monitoring's client has no REST transport, and every Google
    call here is REST through contracts/google_apis.py's endpoint, which the rehearsal's stand-in answers)."""

    def write(report: dict[str, Any]) -> None:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        from contracts.google_apis import MONITORING_HOST, base_url

        scoped = credentials
        if scoped is None:
            scoped, _ = google.auth.default(scopes=[MONITORING_SCOPE])
        root = f"{base_url()}/{MONITORING_HOST}" if base_url() else f"https://{MONITORING_HOST}"
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "timeSeries": [
                {
                    "metric": {
                        "type": FLAGGED_METRIC,
                        "labels": {"pipeline": report["pipeline"], "environment": environment},
                    },
                    "resource": {"type": "global", "labels": {"project_id": project}},
                    "points": [
                        {"interval": {"endTime": now}, "value": {"int64Value": "1" if report["flagged"] else "0"}}
                    ],
                }
            ]
        }
        try:
            response = AuthorizedSession(scoped).post(f"{root}/v3/projects/{project}/timeSeries", json=body, timeout=60)
        except Exception as err:  # A connection or credentials failure: the report stands, a re-run writes it.
            raise ActionError(f"writing {FLAGGED_METRIC} for {report['pipeline']} failed: {err}") from err
        if response.status_code >= 300:
            raise ActionError(
                f"writing {FLAGGED_METRIC} for {report['pipeline']} failed: HTTP {response.status_code} "
                f"{response.text[:300]}"
            )

    return write
