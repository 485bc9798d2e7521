"""Artifact Registry: the pipeline image's repository, in an environment that builds its own releases.

CI pushes `${REGION}-docker.pkg.dev/${PROJECT}/<prefix>-images/pipeline:<commit sha>` and compiles against its
digest; tags are immutable, so a tag can never be moved to other bytes (and no `latest` is ever pushed). An
environment that runs another's releases (gcp.releases_from: prod runs dev's) builds nothing: its runs use
the release store's image, and the access table lets its accounts and its Vertex AI service agent read it.
Compiled templates are not here: they are published to the artifacts bucket, content-addressed.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.artifact_registry_repository import ArtifactRegistryRepository
from constructs import Construct

from contracts.config import EnvironmentConfig, release_source
from contracts.environment import Gcp


class Registry(Construct):
    def __init__(self, scope: Construct, id_: str, gcp: Gcp) -> None:
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
        }


def image_path(config: EnvironmentConfig) -> str:
    """Where the environment's pipeline image is pushed (without tag or digest): its release store's."""
    gcp = release_source(config).gcp
    if gcp is None:
        raise ValueError(f"environment {config.name!r} has no gcp section")
    return f"{gcp.region}-docker.pkg.dev/{gcp.project}/{gcp.name('images')}/pipeline"
