"""The prediction log on Google Cloud: one BigQuery dataset per environment, `<prefix>_predictions`
(Gcp.prediction_log_dataset), and in it each pipeline's table `<pipeline>_requests` (Gcp.prediction_log_table).

The pipeline's endpoint logs a sample of its requests and answers there (its request-response logging,
infra/parts/serving.py, at the pipeline's monitoring.log_sample_rate) and the monitor reads a window of them
(release/monitor/). The table is made here, with the schema Vertex AI's request-response logging writes
(contracts/prediction_log.py: BIGQUERY_SCHEMA, schema v1), partitioned by day on its logging time so that a
day's requests expire after the pipeline's monitoring.log_retention_days: our retention, not an unpartitioned
table Vertex would make. Who may write and read it is the access table's (infra/access.py: REQUEST_LOG).

Like the data bucket (force_destroy false), nothing here deletes logged requests: a plan never drops the dataset
with its tables in it, and each table refuses deletion until deletion_protection is turned off.
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_google.bigquery_dataset import BigqueryDataset
from cdktf_cdktf_provider_google.bigquery_table import BigqueryTable, BigqueryTableTimePartitioning
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp
from contracts.prediction_log import BIGQUERY_SCHEMA, BIGQUERY_TIME_COLUMN

DAY_MS = 24 * 60 * 60 * 1000


def table_schema() -> str:
    """The table's schema as the provider takes it: the contract's fields, as JSON."""
    return json.dumps([dict(field) for field in BIGQUERY_SCHEMA])


class PredictionLog(Construct):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.dataset = BigqueryDataset(
            self,
            "dataset",
            project=gcp.project,
            dataset_id=gcp.prediction_log_dataset,
            friendly_name=gcp.prediction_log_dataset,
            description="Each pipeline's endpoint's sampled requests and answers (request-response logging)",
            location=gcp.region,
            labels={"contents": "prediction-log"},
            # A destroy never deletes the tables and their rows with it.
            delete_contents_on_destroy=False,
        )
        # By pipeline.
        self.tables: dict[str, BigqueryTable] = {}
        for each in config.each_pipeline():
            pipeline = each.selected
            project, _, table = gcp.prediction_log_table(pipeline).split(".")
            self.tables[pipeline] = BigqueryTable(
                self,
                f"table-{pipeline}",
                project=project,
                # The dataset's own attribute: the table waits for it.
                dataset_id=self.dataset.dataset_id,
                table_id=table,
                description=f"{pipeline}'s endpoint's request-response log (contracts/prediction_log.py, schema v1)",
                labels={"pipeline": each.pipeline_name},
                schema=table_schema(),
                time_partitioning=BigqueryTableTimePartitioning(
                    type="DAY",
                    field=BIGQUERY_TIME_COLUMN,
                    expiration_ms=each.monitoring.log_retention_days * DAY_MS,
                ),
                deletion_protection=True,
            )

    def output_uri(self, pipeline: str) -> str:
        """The pipeline's table as the endpoint's logging names it, bq://<project>.<dataset>.<table>, in Terraform
        references (the endpoint waits for the table)."""
        table = self.tables[pipeline]
        return f"bq://{table.project}.{table.dataset_id}.{table.table_id}"
