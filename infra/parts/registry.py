"""Artifact Registry: the pipeline image (DOCKER) and the compiled templates (KFP).

CI pushes `${REGION}-docker.pkg.dev/${PROJECT}/<prefix>-images/pipeline:<commit sha>` and compiles against its
digest; tags are immutable, so a tag can never be moved to other bytes (and no `latest` is ever pushed).
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.artifact_registry_repository import ArtifactRegistryRepository
from cdktf_cdktf_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from constructs import Construct

from contracts.environment import Gcp
from infra.parts.service_accounts import ServiceAccounts

# (repository kind, account role, repository role)
GRANTS: tuple[tuple[str, str, str], ...] = (
    ("images", "ci", "roles/artifactregistry.writer"),
    ("images", "pipeline", "roles/artifactregistry.reader"),
    ("templates", "ci", "roles/artifactregistry.writer"),
    ("templates", "pipeline", "roles/artifactregistry.reader"),
    ("templates", "trigger", "roles/artifactregistry.reader"),
)


class Registry(Construct):
    def __init__(self, scope: Construct, id_: str, gcp: Gcp, accounts: ServiceAccounts) -> None:
        super().__init__(scope, id_)
        self.repositories = {
            "images": ArtifactRegistryRepository(
                self,
                "images",
                project=gcp.project,
                location=gcp.region,
                repository_id=gcp.name("images"),
                format="DOCKER",
                description="The pipeline image, tagged with the commit SHA and referenced by digest",
                docker_config={"immutable_tags": True},
            ),
            "templates": ArtifactRegistryRepository(
                self,
                "templates",
                project=gcp.project,
                location=gcp.region,
                repository_id=gcp.name("templates"),
                format="KFP",
                description="Compiled Vertex AI pipeline templates",
            ),
        }
        for kind, role, repository_role in GRANTS:
            repository = self.repositories[kind]
            ArtifactRegistryRepositoryIamMember(
                self,
                f"{kind}-{role}-{repository_role.removeprefix('roles/artifactregistry.')}",
                project=gcp.project,
                location=gcp.region,
                repository=repository.name,
                role=repository_role,
                member=accounts.member(role),
            )

    def image_path(self, gcp: Gcp) -> str:
        """Where CI pushes the pipeline image (without tag or digest)."""
        return f"{gcp.region}-docker.pkg.dev/{gcp.project}/{gcp.name('images')}/pipeline"
