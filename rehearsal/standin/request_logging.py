"""Vertex AI's request-response logging of an endpoint, as the stand-in's Vertex AI would do it while serving.

An endpoint's `predict_request_response_logging_config` (from the stack: enabled, sampling_rate, and
bigquery_destination.output_uri, bq://<project>.<dataset>.<table>) decides what Vertex AI writes to BigQuery
(https://cloud.google.com/vertex-ai/docs/predictions/online-prediction-logging): a sample of the requests, each
as one row of the table, written by the Vertex AI service agent (service-<project number>@gcp-sa-aiplatform
.iam.gserviceaccount.com). With a full table reference "the Dataset must exist and table must not exist"
(aiplatform v1 discovery document, BigQueryDestination.outputUri): Vertex AI creates the table on its first log,
so a table that exists already (a stack that creates it) is refused, and so is a dataset that does not exist.

What the stand-in writes per logged request (the shape contracts/prediction_log.py documents and BIGQUERY_SCHEMA
declares: the table is created with that schema, so the rehearsal holds the monitor to its own contract, not to
an independent copy of Google's): endpoint (the endpoint's resource name), deployed_model_id (the deployed model
that answered, chosen by the endpoint's traffic split), logging_time, request_id, request_payload (each
instance, as a JSON string) and response_payload (each prediction, as a JSON string).

No model runs here: the caller says what was answered (`Request.predictions`). Which deployed model answers
follows the traffic split exactly (smooth weighted round robin: 90/10 is 9 in 10 requests), and which requests are
logged follows sampling_rate with a seeded generator, so a run is repeatable. The service agent's permissions are
checked on the synthesized IAM and recorded like any request: creating the table needs bigquery.tables.create on
the dataset, writing rows bigquery.tables.updateData and bigquery.tables.get on the table
(https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery#required_permissions). A refusal logs nothing
(Vertex AI keeps serving and drops the log).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rehearsal.standin.bigquery import BigQuery, BigQueryError, dataset_target, table_target
from rehearsal.standin.iam import Policy, Target
from rehearsal.standin.server import Check, LogEntry, RequestLog

AGENT_DOMAIN = "gcp-sa-aiplatform.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Logging:
    """An endpoint's predict_request_response_logging_config, as synthesized."""

    enabled: bool
    sampling_rate: float
    output_uri: str  # bq://project.dataset.table

    @property
    def table(self) -> tuple[str, str, str] | None:
        """(project, dataset, table) of a full table reference; None for a project or dataset only."""
        parts = self.output_uri.removeprefix("bq://").split(".")
        return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def logging_of(body: Any) -> Logging | None:
    if not body:
        return None
    body = body[0] if isinstance(body, list) else body
    destination = body.get("bigquery_destination") or {}
    destination = destination[0] if isinstance(destination, list) else destination
    return Logging(
        bool(body.get("enabled")), float(body.get("sampling_rate") or 0), str(destination.get("output_uri", ""))
    )


@dataclass(frozen=True)
class Request:
    """One prediction request to the endpoint: its instances, what the deployed model answered, and when."""

    instances: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    at: datetime  # the logging time (timezone-aware)


@dataclass
class Served:
    """What serving a batch of requests did: per deployed model, how many it answered and how many were logged."""

    answered: dict[str, int] = field(default_factory=dict)
    logged: dict[str, int] = field(default_factory=dict)
    table_created: bool = False
    refused: str | None = None  # why nothing was logged (a permission, the destination), if so

    @property
    def total_logged(self) -> int:
        return sum(self.logged.values())


def agent(project_number: str) -> str:
    return f"service-{project_number}@{AGENT_DOMAIN}"


class Router:
    """Smooth weighted round robin over the traffic split: each deployed model answers its exact share."""

    def __init__(self, split: dict[str, int]) -> None:
        self.split = {k: v for k, v in split.items() if v > 0}
        self.credit = dict.fromkeys(self.split, 0)

    def next(self) -> str:
        total = sum(self.split.values())
        for key, weight in self.split.items():
            self.credit[key] += weight
        chosen = max(self.credit, key=lambda k: self.credit[k])
        self.credit[chosen] -= total
        return chosen


def serve(
    bigquery: BigQuery,
    policy: Policy,
    log: RequestLog,
    endpoint_name: str,
    split: dict[str, int],
    logging: Logging | None,
    project_number: str,
    requests: Sequence[Request],
    seed: int = 0,
    request_ids: Any = None,
) -> Served:
    """Serve `requests` on an endpoint with traffic `split` (deployed model id -> percent) and log them as its
    `logging` config says; what was answered and logged."""
    served = Served()
    if not split:
        served.refused = "the endpoint has no traffic split: no deployed model answers"
        return served
    router, sampler = Router(split), random.Random(seed)
    ids = request_ids or _ids()
    rows: list[dict[str, Any]] = []
    for request in requests:
        deployed = router.next()
        served.answered[deployed] = served.answered.get(deployed, 0) + 1
        if logging is None or not logging.enabled or sampler.random() >= logging.sampling_rate:
            continue
        served.logged[deployed] = served.logged.get(deployed, 0) + 1
        rows.append(
            {
                "endpoint": endpoint_name,
                "deployed_model_id": deployed,
                "logging_time": request.at,
                "request_id": next(ids),
                "request_payload": [json.dumps(i, separators=(",", ":")) for i in request.instances],
                "response_payload": [json.dumps(p, separators=(",", ":")) for p in request.predictions],
            }
        )
    if not rows:
        return served
    email = agent(project_number)
    destination = logging.table if logging else None
    if destination is None:
        served.refused = f"output_uri {logging.output_uri if logging else ''!r} names no table: not modelled"
        served.logged = {}
        return served
    project, dataset, table_id = destination
    table = bigquery.table(project, dataset, table_id)
    if table is not None and table.created_by != f"serviceAccount:{email}":
        served.refused = (
            f"table {project}.{dataset}.{table_id} exists already ({table.created_by}): with a full table reference "
            "the table must not exist (BigQueryDestination.outputUri), Vertex AI creates it"
        )
        served.logged = {}
        return served
    if table is None:
        if not _allowed(
            policy, log, email, "bigquery.tables.create", dataset_target(project, dataset), "tables.insert"
        ):
            served.refused = f"{email} may not create tables in {project}.{dataset} (bigquery.tables.create)"
            served.logged = {}
            return served
        from contracts.prediction_log import BIGQUERY_SCHEMA

        try:
            table = bigquery.create_table(
                project, dataset, table_id, [dict(f) for f in BIGQUERY_SCHEMA], f"serviceAccount:{email}"
            )
        except BigQueryError as err:
            served.refused = f"creating {project}.{dataset}.{table_id}: {err.message}"
            served.logged = {}
            return served
        served.table_created = True
    target = table_target(project, dataset, table_id)
    for permission in ("bigquery.tables.get", "bigquery.tables.updateData"):
        if not _allowed(policy, log, email, permission, target, "tabledata.insertAll", len(rows)):
            served.refused = f"{email} may not write {project}.{dataset}.{table_id} ({permission})"
            served.logged = {}
            return served
    bigquery.append(table, rows)
    return served


def _allowed(
    policy: Policy, log: RequestLog, email: str, permission: str, target: Target, method: str, rows: int = 0
) -> bool:
    decision = policy.check(f"serviceAccount:{email}", permission, target)
    what = f" ({rows} row(s))" if rows else ""
    entry = LogEntry(
        time.time(),
        "bigquery.googleapis.com",
        f"bigquery.{method} (Vertex AI's request-response logging{what})",
        email,
        path=target.name,
        status=200 if decision.allowed else 403,
    )
    entry.checks.append(
        Check(permission, target.name, decision.allowed, decision.grant.source if decision.grant else None)
    )
    log.add(entry)
    return decision.allowed


def _ids() -> Any:
    """Request ids as Vertex AI gives them: large unique integers (NUMERIC)."""
    base = int(time.time() * 1000) * 1000
    count = 0
    while True:
        count += 1
        yield base + count
