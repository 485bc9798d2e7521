"""Serving: each pipeline's champion has its Vertex AI endpoint, created empty under the per-pipeline naming rule.

Display name <prefix>-<pipeline>-endpoint, id Gcp.endpoint_id(pipeline). The promote builds deploy versions onto it and
move its
traffic (release/promotion/), so Terraform ignores the traffic split it does not own. The deployed container
runs as the `serving` account, which reads the model and nothing else; the deployer is always the CI account
(the promote build, approval-gated in prod, or the autopromote build where release.auto_promote), which
acts as it: both grants are the access table's (infra/access.py). Deploying needs aiplatform.endpoints.deploy
and aiplatform.models.deploy, which CI holds through roles/aiplatform.user on the project (the provider has no
endpoint-level IAM resource to narrow it).
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.vertex_ai_endpoint import VertexAiEndpoint
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp


class Serving(Construct):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, gcp: Gcp) -> None:
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
                # Deployed models and their traffic are the release path's, not Terraform's.
                lifecycle={"ignore_changes": ["traffic_split"]},
            )
            for each in config.each_pipeline()
        }
