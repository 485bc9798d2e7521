"""Artifact Registry: the image repository CI pushes to, in the environment that builds; none in prod."""

from __future__ import annotations

from infra.parts.registry import image_path
from tests.infra.conftest import has_resource, resources


def test_dev_has_the_image_repository(synthesized, stacks):
    assert has_resource(
        synthesized["dev"],
        "google_artifact_registry_repository",
        {"repository_id": "penguins-dev-images", "format": "DOCKER", "docker_config": {"immutable_tags": True}},
    )
    assert len(resources(stacks["dev"], "google_artifact_registry_repository")) == 1  # no KFP templates repository


def test_prod_builds_nothing_and_runs_devs_image(stacks, configs):
    """prod runs what dev published (gcp.releases_from): no repository of its own, dev's image path."""
    assert resources(stacks["prod"], "google_artifact_registry_repository") == []
    dev_path = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline"
    assert stacks["prod"]["output"]["image_path"]["value"] == dev_path == image_path(configs["prod"])
    assert stacks["dev"]["output"]["image_path"]["value"] == dev_path == image_path(configs["dev"])


def test_only_ci_writes_images(stacks):
    writers = [
        g
        for g in resources(stacks["dev"], "google_artifact_registry_repository_iam_member")
        if g["role"] == "roles/artifactregistry.writer"
    ]
    assert writers and all("accounts_ci" in g["member"] for g in writers)
