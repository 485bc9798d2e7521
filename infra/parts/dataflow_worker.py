"""The Dataflow worker account: what the Beam components' Dataflow workers run as, with the least it needs.

Only for an environment with `gcp.dataflow.enabled`. The workers
- run as `<prefix>-dataflow` with `roles/dataflow.worker` (project level: the role exists nowhere else);
- read and write the pipeline root (artifacts, and the temp and staging files under it) and read the data
  spans: bucket-level grants on exactly those two buckets, nothing project-wide;
- pull the pipeline image, their SDK container, from the images repository.
The pipeline account launches the jobs from its steps: a custom project role with only the calls Beam's
DataflowRunner makes (roles/dataflow.developer would also let it snapshot, update and list the project's
compute resources), and actAs on the worker account only, never on the project.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktf_cdktf_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from contracts.environment import Gcp
from infra.parts.buckets import Buckets
from infra.parts.registry import Registry
from infra.parts.service_accounts import ServiceAccounts

ROLE = "dataflow"
WORKER_ROLE = "roles/dataflow.worker"
# What DataflowRunner does as the launcher: create the job, poll it, read its messages and metrics, cancel it.
LAUNCHER_PERMISSIONS: tuple[str, ...] = (
    "dataflow.jobs.create",
    "dataflow.jobs.get",
    "dataflow.jobs.list",
    "dataflow.jobs.cancel",
    "dataflow.messages.list",
    "dataflow.metrics.get",
)
# (bucket kind, bucket role): ExampleGen reads the spans; every Beam component writes under the pipeline root.
BUCKET_GRANTS: tuple[tuple[str, str], ...] = (
    ("pipeline-root", "roles/storage.objectAdmin"),
    ("data", "roles/storage.objectViewer"),
)


class DataflowWorker(Construct):
    def __init__(
        self, scope: Construct, id_: str, gcp: Gcp, accounts: ServiceAccounts, buckets: Buckets, registry: Registry
    ) -> None:
        super().__init__(scope, id_)
        self.account = ServiceAccount(
            self,
            "account",
            project=gcp.project,
            account_id=gcp.name(ROLE),
            display_name=gcp.name(ROLE),
            description="Dataflow workers of the pipeline's Beam components",
        )
        ProjectIamMember(self, "worker", project=gcp.project, role=WORKER_ROLE, member=self.member)
        launcher = ProjectIamCustomRole(
            self,
            "launcher-role",
            project=gcp.project,
            role_id=gcp.role_id("dataflow-launcher"),  # penguins_dev_dataflow_launcher
            title=f"{gcp.name('dataflow')} launcher",
            description="Launch and follow Dataflow jobs (the pipeline account, from its Beam steps)",
            permissions=list(LAUNCHER_PERMISSIONS),
        )
        ProjectIamMember(
            self, "pipeline-launches", project=gcp.project, role=launcher.name, member=accounts.member("pipeline")
        )
        ServiceAccountIamMember(
            self,
            "pipeline-acts-as-dataflow",
            service_account_id=self.account.name,
            role="roles/iam.serviceAccountUser",
            member=accounts.member("pipeline"),
        )
        for kind, bucket_role in BUCKET_GRANTS:
            StorageBucketIamMember(
                self,
                f"{kind}-{bucket_role.removeprefix('roles/storage.')}",
                bucket=buckets.name(kind),
                role=bucket_role,
                member=self.member,
            )
        ArtifactRegistryRepositoryIamMember(
            self,
            "images-reader",
            project=gcp.project,
            location=gcp.region,
            repository=registry.repositories["images"].name,
            role="roles/artifactregistry.reader",
            member=self.member,
        )

    @property
    def email(self) -> str:
        return self.account.email

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.account.email}"
