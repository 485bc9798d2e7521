"""The stand-in's BigQuery, Cloud Monitoring and Vertex AI request-response logging (flow 5's), with the real
BigQuery client: the monitor's one query form answered, any other refused; the IAM checked; Vertex AI creating the
log table on its first log; points written, and an alert policy read narrowly."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
import requests
from google.api_core import exceptions
from google.cloud import bigquery
from google.oauth2.credentials import Credentials

from contracts.prediction_log import BIGQUERY_SCHEMA
from rehearsal.standin.bigquery import BigQuery, Dataset, Table
from rehearsal.standin.iam import Grant, Policy
from rehearsal.standin.metadata import Identities
from rehearsal.standin.monitoring import Descriptor, Monitoring, alert_policy_of
from rehearsal.standin.request_logging import Logging, Request, agent, serve
from rehearsal.standin.server import Server

MONITOR = "monitor@p.iam.gserviceaccount.com"
OTHER = "other@p.iam.gserviceaccount.com"
NUMBER = "123"
AGENT = agent(NUMBER)
DATASET = "projects/p/datasets/logs"
METRIC = "custom.googleapis.com/ml_monitor/flagged"
QUERY = (
    "SELECT deployed_model_id, logging_time, request_payload, response_payload FROM `p.logs.penguins_requests` "
    "WHERE logging_time >= @start AND logging_time < @end ORDER BY logging_time"
)
T0 = datetime(2026, 12, 5, 6, 0, tzinfo=timezone.utc)


@dataclass
class Stand:
    server: Server
    identities: Identities
    bigquery: BigQuery
    monitoring: Monitoring
    policy: Policy

    def client(self, email: str = MONITOR) -> bigquery.Client:
        credentials = Credentials(token=self.identities.token_for(email))
        url = f"{self.server.base_url}/bigquery.googleapis.com"
        return bigquery.Client(project="p", credentials=credentials, client_options={"api_endpoint": url})

    def post(self, path: str, body: object, email: str = MONITOR) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.identities.token_for(email)}"}
        return requests.post(f"{self.server.base_url}/{path}", json=body, headers=headers, timeout=10)


@pytest.fixture
def stand() -> Iterator[Stand]:
    identities = Identities()
    for email in (MONITOR, OTHER, AGENT):
        identities.add(f"serviceAccount:{email}", "p")
    policy = Policy(
        grants=[
            Grant(f"serviceAccount:{MONITOR}", "roles/bigquery.jobUser", "projects/p", None, "t:jobs"),
            Grant(f"serviceAccount:{MONITOR}", "roles/bigquery.dataViewer", DATASET, None, "t:read"),
            Grant(f"serviceAccount:{MONITOR}", "roles/monitoring.metricWriter", "projects/p", None, "t:metric"),
            Grant(f"serviceAccount:{OTHER}", "roles/bigquery.jobUser", "projects/p", None, "t:other-jobs"),
            Grant(f"serviceAccount:{AGENT}", "roles/bigquery.dataEditor", DATASET, None, "t:agent"),
        ]
    )
    server = Server(policy, identities.member_of_token)
    server.metadata = identities.handle
    store = BigQuery({"p": NUMBER})
    store.datasets[("p", "logs")] = Dataset("p", "logs", "europe-west4", "t:dataset")
    monitoring = Monitoring({"p": NUMBER})
    monitoring.descriptors[("p", METRIC)] = Descriptor(METRIC, "GAUGE", "INT64", ("pipeline", "environment"), "t")
    server.register("bigquery.googleapis.com", "bigquery.v2", store.handle)
    server.register("monitoring.googleapis.com", "monitoring.v3", monitoring.handle)
    server.start()
    try:
        yield Stand(server, identities, store, monitoring, policy)
    finally:
        server.stop()


def _log(stand: Stand, split: dict[str, int], count: int, rate: float = 1.0, start: datetime = T0) -> object:
    logging = Logging(True, rate, "bq://p.logs.penguins_requests")
    batch = [
        Request([{"island": "Biscoe", "n": i}], [{"species": "Adelie"}], start + timedelta(seconds=i))
        for i in range(count)
    ]
    return serve(
        stand.bigquery,
        stand.policy,
        stand.server.log,
        "projects/123/locations/l/endpoints/e",
        split,
        logging,
        NUMBER,
        batch,
    )


def _window(stand: Stand, start: datetime, end: datetime, email: str = MONITOR) -> list[dict[str, object]]:
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
        ]
    )
    return [dict(row.items()) for row in stand.client(email).query(QUERY, job_config=config).result()]


def test_vertex_creates_the_table_on_its_first_log_and_splits_by_traffic(stand: Stand) -> None:
    served = _log(stand, {"d1": 90, "d2": 10}, 1000)
    assert served.table_created and served.refused is None
    assert served.answered == {"d1": 900, "d2": 100} and served.total_logged == 1000
    table = stand.bigquery.table("p", "logs", "penguins_requests")
    assert table is not None and table.created_by == f"serviceAccount:{AGENT}"
    assert [f["name"] for f in table.schema] == [f["name"] for f in BIGQUERY_SCHEMA]
    assert table.rows[0]["request_payload"] == ['{"island":"Biscoe","n":0}']
    again = _log(stand, {"d1": 100}, 10, rate=0.5, start=T0 + timedelta(hours=1))
    assert not again.table_created and 0 < again.total_logged < 10


def test_a_table_the_stack_made_is_refused_as_vertex_refuses_it(stand: Stand) -> None:
    schema = [dict(f) for f in BIGQUERY_SCHEMA]
    stand.bigquery.datasets[("p", "logs")].tables["penguins_requests"] = Table(
        "p", "logs", "penguins_requests", schema, "dev:t"
    )
    served = _log(stand, {"d1": 100}, 5)
    assert served.total_logged == 0 and "must not exist" in str(served.refused)


def test_the_monitors_query_through_the_real_client(stand: Stand) -> None:
    _log(stand, {"d1": 90, "d2": 10}, 1200)
    rows = _window(stand, T0 + timedelta(seconds=100), T0 + timedelta(seconds=1100))
    assert len(rows) == 1000  # two pages of jobs.getQueryResults
    assert rows[0]["logging_time"] == T0 + timedelta(seconds=100)
    assert all(a["logging_time"] < b["logging_time"] for a, b in itertools.pairwise(rows))
    assert rows[0]["request_payload"] == ['{"island":"Biscoe","n":100}'] and rows[0]["deployed_model_id"] == "d1"
    methods = {e.method for e in stand.server.log.entries if e.api == "bigquery.googleapis.com" and e.caller == MONITOR}
    assert methods == {"bigquery.jobs.insert", "bigquery.jobs.getQueryResults"}


def test_another_query_shape_is_refused_with_a_clear_400(stand: Stand) -> None:
    _log(stand, {"d1": 100}, 3)
    with pytest.raises(exceptions.BadRequest, match="one query form only"):
        stand.client().query("SELECT * FROM `p.logs.penguins_requests`").result()


def test_reading_the_table_needs_get_data_and_a_job_needs_jobs_create(stand: Stand) -> None:
    _log(stand, {"d1": 100}, 3)
    with pytest.raises(
        exceptions.Forbidden, match=r"User does not have permission to query table p:logs\.penguins_requests"
    ):
        _window(stand, T0, T0 + timedelta(hours=1), email=OTHER)
    with pytest.raises(exceptions.Forbidden, match=r"bigquery\.jobs\.create"):
        _window(stand, T0, T0 + timedelta(hours=1), email=AGENT)
    refused = [c for e in stand.server.log.entries for c in e.checks if not c.allowed]
    assert {c.permission for c in refused} == {"bigquery.tables.getData", "bigquery.jobs.create"}


def _series(value: int, at: datetime, pipeline: str = "penguins", **metric: str) -> dict[str, object]:
    return {
        "timeSeries": [
            {
                "metric": {"type": METRIC, "labels": {"pipeline": pipeline, "environment": "dev", **metric}},
                "resource": {"type": "global", "labels": {"project_id": "p"}},
                "points": [
                    {"interval": {"endTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}, "value": {"int64Value": str(value)}}
                ],
            }
        ]
    }


def test_points_are_checked_and_the_policy_fires_on_its_pipelines_one(stand: Stand) -> None:
    path = "monitoring.googleapis.com/v3/projects/p/timeSeries"
    assert stand.post(path, _series(0, T0)).status_code == 200
    assert stand.post(path, _series(1, T0 + timedelta(seconds=2))).status_code == 400  # within 5 s
    assert stand.post(path, _series(1, T0 + timedelta(minutes=1), extra="x")).status_code == 400  # undeclared label
    assert stand.post(path, _series(1, T0 + timedelta(minutes=1)), email=OTHER).status_code == 403
    assert stand.post(path, _series(1, T0 + timedelta(minutes=2), pipeline="diabetes")).status_code == 200
    condition = {
        "display_name": "a window flagged",
        "condition_threshold": {
            "filter": f'resource.type="global" AND metric.type="{METRIC}" AND metric.labels.pipeline="penguins" AND '
            'metric.labels.environment="dev"',
            "comparison": "COMPARISON_GT",
            "threshold_value": 0,
            "duration": "0s",
            "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_MAX"}],
        },
    }
    policy = alert_policy_of({"display_name": "drift", "combiner": "OR", "conditions": [condition]}, "p", "t")
    assert not stand.monitoring.evaluate(policy).firing  # diabetes' 1 is not penguins'
    assert stand.post(path, _series(1, T0 + timedelta(minutes=3))).status_code == 200
    verdict = stand.monitoring.evaluate(policy)
    assert verdict.firing and "ALIGN_MAX 1 of 2 point(s)" in verdict.why
    logged = alert_policy_of(
        {"display_name": "l", "conditions": [{"condition_matched_log": {"filter": "x"}}]}, "p", "t"
    )
    assert "not modelled" in stand.monitoring.evaluate(logged).why
