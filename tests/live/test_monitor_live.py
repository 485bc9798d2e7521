"""The monitor's Google Cloud calls against the real services of the dev project (skipped without credentials):
a window's query on the pipeline's request log (BigQuery, the endpoint's own table, once it has logged), and a
point of the drift metric (Cloud Monitoring v3 over REST)."""

from datetime import datetime, timedelta, timezone

import pytest

from contracts.config import load_environment
from release.monitor import act
from release.monitor.logs import BigQueryLog
from release.monitor.window import window_ending

pytestmark = pytest.mark.live


def test_the_window_query_runs_on_the_endpoints_log_table():
    from google.api_core import exceptions
    from google.cloud import bigquery

    config = load_environment("dev", "penguins")
    client = bigquery.Client(project=config.gcp.project)
    log = BigQueryLog(client, config.gcp.prediction_log_table("penguins"), versions={})
    try:
        window = log.read(window_ending(datetime.now(timezone.utc) - timedelta(hours=1), 60))
    except exceptions.NotFound:
        pytest.skip("the endpoint has not logged a request yet: Vertex AI creates its table on the first one")
    assert window.bad == 0 or window.bad_examples  # every unreadable row says why


def test_a_point_of_the_drift_metric_is_accepted():
    config = load_environment("dev", "penguins")
    write = act.cloud_monitoring_alert(config.gcp.project, "dev")
    write({"pipeline": "penguins", "flagged": False})  # a 0: the alert stays clear
