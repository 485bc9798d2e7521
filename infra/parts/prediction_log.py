"""The prediction log on Google Cloud: one BigQuery dataset per environment, `<prefix>_predictions`
(Gcp.prediction_log_dataset), in which each pipeline's endpoint logs to its table `<pipeline>_requests`
(Gcp.prediction_log_table).

The pipeline's endpoint logs a sample of its requests and answers there (its request-response logging,
infra/parts/serving.py, at the pipeline's monitoring.log_sample_rate) and the monitor reads a window of them
(release/monitor/). Only the dataset is made here, not the tables: Google's reference of the endpoint's
`predict_request_response_logging_config.bigquery_destination.output_uri` says "When only the project is
specified, the Dataset and Table is created. When the full table reference is specified, the Dataset must exist
and table must not exist." The endpoint names the full table reference (`output_uri`), so Vertex AI creates each
pipeline's table in this dataset on its first log, with the shape contracts/prediction_log.py documents
(BIGQUERY_SCHEMA, what the monitor reads). Who may create, write and read tables in the dataset is the access
table's (infra/access.py: PREDICTION_LOG, a dataset-level resource).

Like the data bucket (force_destroy false), nothing here deletes logged requests: a destroy never drops the
dataset with the tables in it.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.bigquery_dataset import BigqueryDataset
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp

DAY_MS = 24 * 60 * 60 * 1000


def retention_days(config: EnvironmentConfig) -> int:
    """The dataset's partition expiration, in days: the longest monitoring.log_retention_days of the environment's
    pipelines (one dataset holds every pipeline's table, so no pipeline keeps less than it asked for)."""
    return max(each.monitoring.log_retention_days for each in config.each_pipeline())


def table_id(gcp: Gcp, pipeline: str) -> str:
    """The pipeline's table in the dataset, as the contract names it (Gcp.prediction_log_table)."""
    project, dataset, table = gcp.prediction_log_table(pipeline).split(".")
    if (project, dataset) != (gcp.project, gcp.prediction_log_dataset):
        raise ValueError(f"{gcp.prediction_log_table(pipeline)}: not a table of {gcp.prediction_log_dataset}")
    return table


class PredictionLog(Construct):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.gcp = gcp
        self.dataset = BigqueryDataset(
            self,
            "dataset",
            project=gcp.project,
            dataset_id=gcp.prediction_log_dataset,
            friendly_name=gcp.prediction_log_dataset,
            description=(
                "Each pipeline's endpoint's sampled requests and answers (request-response logging): Vertex AI "
                "creates the table <pipeline>_requests on its first log"
            ),
            location=gcp.region,
            labels={"contents": "prediction-log"},
            # The retention: each partition of a partitioned table created in this dataset expires this long after
            # its day. It applies to the partitioned tables the endpoints create (only to tables created after it
            # is set: a later change leaves an existing table's expiration as it was). A table Vertex AI creates
            # unpartitioned keeps its rows until someone deletes them; whether Vertex partitions the table it
            # creates could not be verified offline, so check the table after the first log (`bq show`).
            default_partition_expiration_ms=retention_days(config) * DAY_MS,
            # A destroy never deletes the tables and their rows with it.
            delete_contents_on_destroy=False,
        )

    def output_uri(self, pipeline: str) -> str:
        """The pipeline's table as the endpoint's logging names it, bq://<project>.<dataset>.<table>: the full
        table reference, whose table Vertex AI creates (the dataset's references: the endpoint waits for it)."""
        return f"bq://{self.dataset.project}.{self.dataset.dataset_id}.{table_id(self.gcp, pipeline)}"
