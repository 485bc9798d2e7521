"""Artifact Registry: the image repository CI pushes to, the KFP repository, and who may use them."""

from __future__ import annotations

import pytest

from tests.infra.conftest import has_resource, resources


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_repositories(synthesized, env):
    assert has_resource(
        synthesized[env],
        "google_artifact_registry_repository",
        {"repository_id": f"penguins-{env}-images", "format": "DOCKER", "docker_config": {"immutable_tags": True}},
    )
    assert has_resource(
        synthesized[env],
        "google_artifact_registry_repository",
        {"repository_id": f"penguins-{env}-templates", "format": "KFP", "location": "europe-west4"},
    )


def test_image_path_is_what_ci_pushes_to(stacks):
    path = stacks["prod"]["output"]["image_path"]["value"]
    assert path == "europe-west4-docker.pkg.dev/my-prod-project/penguins-prod-images/pipeline"


def test_only_ci_writes_images(stacks):
    writers = [
        g
        for g in resources(stacks["dev"], "google_artifact_registry_repository_iam_member")
        if g["role"] == "roles/artifactregistry.writer"
    ]
    assert writers and all("accounts_ci" in g["member"] for g in writers)
