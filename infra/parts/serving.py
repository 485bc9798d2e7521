"""Serving: each pipeline's champion has its Vertex AI endpoint, created empty under the per-pipeline naming rule.

Display name <prefix>-<pipeline>-endpoint, id Gcp.endpoint_id(pipeline). The promote builds deploy versions onto it and
move its
traffic (release/promotion/), so Terraform ignores the traffic split it does not own. The deployed container
runs as the `serving` account, which reads the model and nothing else; the deployer is always the CI account
(the promote build, approval-gated in prod, or the autopromote build where release.auto_promote), which
acts as it: both grants are the access table's (infra/access.py). Deploying needs aiplatform.endpoints.deploy
and aiplatform.models.deploy, which CI holds through roles/aiplatform.user on the project (the provider has no
endpoint-level IAM resource to narrow it).

Where the pipeline's monitoring.log_sample_rate is above 0, the endpoint logs that share of its requests and
answers into the pipeline's BigQuery table (infra/parts/prediction_log.py), which the monitor reads: Vertex AI's
request-response logging, which creates the table `<pipeline>_requests` in the environment's dataset on its
first log and writes it as the Vertex AI service agent (its grant on the dataset is the access table's).
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.vertex_ai_endpoint import (
    VertexAiEndpoint,
    VertexAiEndpointPredictRequestResponseLoggingConfig,
    VertexAiEndpointPredictRequestResponseLoggingConfigBigqueryDestination,
)
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp
from infra.parts.prediction_log import PredictionLog


def logging_config(
    each: EnvironmentConfig, log: PredictionLog
) -> VertexAiEndpointPredictRequestResponseLoggingConfig | None:
    """The endpoint's request-response logging: the pipeline's sample rate into its table (the full table
    reference, which Vertex AI creates); None at rate 0."""
    rate = each.monitoring.log_sample_rate
    if rate <= 0:
        return None
    return VertexAiEndpointPredictRequestResponseLoggingConfig(
        enabled=True,
        sampling_rate=rate,
        bigquery_destination=VertexAiEndpointPredictRequestResponseLoggingConfigBigqueryDestination(
            output_uri=log.output_uri(each.selected)
        ),
    )


class Serving(Construct):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, gcp: Gcp, log: PredictionLog) -> None:
        super().__init__(scope, id_)
        self.endpoints = {
            each.selected: VertexAiEndpoint(
                self,
                f"endpoint-{each.selected}",
                name=gcp.endpoint_id(each.selected),
                display_name=gcp.pipeline_resource(each.selected, "endpoint"),
                description=(
                    f"The champion of {gcp.model_name(each.selected)}: 100% of traffic, the previous champion at 0%"
                ),
                project=gcp.project,
                location=gcp.region,
                region=gcp.region,
                labels={"model": gcp.model_name(each.selected), "pipeline": each.pipeline_name},
                predict_request_response_logging_config=logging_config(each, log),
                # Deployed models and their traffic are the release path's, not Terraform's.
                lifecycle={"ignore_changes": ["traffic_split"]},
            )
            for each in config.each_pipeline()
        }
        # The pipelines whose endpoint logs its requests (monitoring.log_sample_rate above 0).
        self.logging = [each.selected for each in config.each_pipeline() if each.monitoring.log_sample_rate > 0]
