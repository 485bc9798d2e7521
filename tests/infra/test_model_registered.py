"""The announcement topic RegistryPush publishes to, and (where release.auto_promote) the Pub/Sub-triggered
build that auto-promotes each announced version: promote.yaml, as CI, no approval; none in prod."""

from __future__ import annotations

import pytest
import yaml

from ci.routing import route
from contracts.environment import REPO_ROOT
from infra.parts.model_registered import MESSAGE_SUBSTITUTIONS
from tests.infra.conftest import resources


def _autopromote(stack):
    return [t for t in resources(stack, "google_cloudbuild_trigger") if "pubsub_config" in t]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_environment_has_the_announcement_topic(stacks, env):
    topics = {t["name"] for t in resources(stacks[env], "google_pubsub_topic")}
    assert f"penguins-{env}-model-registered" in topics
    assert stacks[env]["output"]["model_registered_topic"]["value"].endswith(".name}")


def test_dev_auto_promotes_each_announced_version_with_the_promote_config_as_ci(stacks, configs):
    assert configs["dev"].release.auto_promote is True
    [trigger] = _autopromote(stacks["dev"])
    assert trigger["name"] == "penguins-dev-autopromote"
    assert trigger["pubsub_config"]["topic"].startswith("${google_pubsub_topic.model-registered_topic_")
    assert trigger["git_file_source"]["path"] == route("promote").config == "ci/cloudbuild/promote.yaml"
    assert trigger["source_to_build"]["ref"] == "refs/heads/main"
    assert trigger["service_account"].startswith("${google_service_account.accounts_ci_")
    assert trigger["approval_config"] == {"approval_required": False}
    subs = trigger["substitutions"]
    assert subs["_ACTION"] == "auto-promote"
    assert subs["_VERSION"] == "$(body.message.attributes.version)"
    assert {k: subs[k] for k in MESSAGE_SUBSTITUTIONS} == MESSAGE_SUBSTITUTIONS
    # Exactly what the promote config declares, nothing it would not read.
    declared = yaml.safe_load((REPO_ROOT / "ci/cloudbuild/promote.yaml").read_text())["substitutions"]
    assert set(subs) == set(declared)
    assert (subs["_ENV"], subs["_NAME_PREFIX"]) == ("dev", "penguins-dev")


def test_prod_has_no_auto_promotion_its_promotion_waits_for_an_approval(stacks, configs):
    assert configs["prod"].release.auto_promote is False
    assert _autopromote(stacks["prod"]) == []
