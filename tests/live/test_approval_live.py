"""The approval path against the real dev project's Cloud Build (skipped without credentials).

Reads penguins' promote trigger infra provisions and checks that deciding on a build that does not exist is refused
with an error naming Cloud Build; it never starts a build (that would run a promotion).
"""

import uuid

import pytest

from contracts.config import load_environment
from contracts.registry import RegistryError
from release import approvals

pytestmark = pytest.mark.live


def test_the_promote_trigger_is_manual_and_an_unknown_build_cannot_be_approved():
    gcp = load_environment("dev").gcp
    client = approvals.client()
    trigger = client.get_build_trigger(name=approvals.trigger_name(gcp, "penguins"))
    assert trigger.name == gcp.name("penguins-promote")
    assert trigger.git_file_source.path == "ci/cloudbuild/promote.yaml"
    assert trigger.source_to_build.ref.startswith("refs/heads/")
    with pytest.raises(RegistryError, match="Cloud Build refused the decision"):
        approvals.decide(client, gcp, f"no-such-build-{uuid.uuid4().hex[:8]}", approve=False, comment="live test")
