"""Serving: the champion's Vertex AI endpoint, the account the served container runs as, and who may deploy.

The endpoint is created empty under the naming rule (display name <prefix>-endpoint, id Gcp.endpoint_id);
the release path deploys versions onto it and moves its traffic (components/registry/vertex_endpoint.py), so
Terraform ignores the traffic split it does not own. Deploying needs aiplatform.endpoints.deploy and
aiplatform.models.deploy, which the deployers already hold through roles/aiplatform.user on the project
(parts/service_accounts.py; the provider has no endpoint-level IAM resource to narrow it), plus actAs on
the serving account, granted here on that account only:
- with release.auto_promote (dev) the pipeline account deploys, from the registry push;
- without it (prod) the CI account deploys, in the approval-gated promote build.
The deployer also records the move in the alias history (artifacts bucket, registry/ objects, create-only):
CI may already create objects there; the pipeline account gets objectCreator on the registry/ prefix only.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.service_account import ServiceAccount
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktf_cdktf_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from cdktf_cdktf_provider_google.vertex_ai_endpoint import VertexAiEndpoint
from constructs import Construct

from contracts.environment import EnvironmentConfig, Gcp
from infra.parts.buckets import Buckets
from infra.parts.service_accounts import ServiceAccounts


def deployers(config: EnvironmentConfig) -> tuple[str, ...]:
    """Which account moves the champion (and so deploys): the pipeline's push, or the promote build's CI."""
    return ("pipeline",) if config.release.auto_promote else ("ci",)


class Serving(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        accounts: ServiceAccounts,
        buckets: Buckets,
    ) -> None:
        super().__init__(scope, id_)
        self.endpoint = VertexAiEndpoint(
            self,
            "endpoint",
            name=gcp.endpoint_id,
            display_name=gcp.name("endpoint"),
            description=f"The champion of {gcp.name('model')}: 100% of traffic, the previous champion at 0%",
            project=gcp.project,
            location=gcp.region,
            region=gcp.region,
            labels={"model": gcp.name("model"), "pipeline": config.pipeline_name},
            # Deployed models and their traffic are the release path's, not Terraform's.
            lifecycle={"ignore_changes": ["traffic_split"]},
        )
        self.account = ServiceAccount(
            self,
            "account",
            project=gcp.project,
            account_id=gcp.name("serving"),
            display_name=gcp.name("serving"),
            description="The served model's container on the Vertex AI endpoint (reads the model, nothing else)",
        )
        # The versions' SavedModels (their artifact_uri) are in the pipeline root: read-only.
        StorageBucketIamMember(
            self,
            "pipeline-root-serving-objectViewer",
            bucket=buckets.name("pipeline-root"),
            role="roles/storage.objectViewer",
            member=f"serviceAccount:{self.account.email}",
        )
        for role in deployers(config):
            ServiceAccountIamMember(
                self,
                f"{role}-acts-as-serving",
                service_account_id=self.account.name,
                role="roles/iam.serviceAccountUser",
                member=accounts.member(role),
            )
        if "pipeline" in deployers(config):
            history = f"projects/_/buckets/{gcp.name('artifacts')}/objects/registry/"
            StorageBucketIamMember(
                self,
                "artifacts-pipeline-registry-history",
                bucket=buckets.name("artifacts"),
                role="roles/storage.objectCreator",
                member=accounts.member("pipeline"),
                condition={
                    "title": "registry-history-only",
                    "description": "Create-only alias history objects under registry/",
                    "expression": f'resource.name.startsWith("{history}")',
                },
            )

    @property
    def email(self) -> str:
        return self.account.email
