"""Each pipeline's announcement topic RegistryPush publishes to, and (where release.auto_promote) the pipeline's
Pub/Sub-triggered build that auto-promotes each announced version: promote.yaml, as CI, no approval; none in
prod."""

from __future__ import annotations

import pytest
import yaml

from ci.routing import route
from contracts.environment import REPO_ROOT
from contracts.registry import registry_target
from infra.parts.model_registered import MESSAGE_SUBSTITUTIONS
from tests.infra.conftest import resources


def _autopromote(stack):
    """The Pub/Sub-triggered builds on the announcements (the canary's, on its own topic: test_canary.py)."""
    on_announcements = "${google_pubsub_topic.model-registered-"
    triggers = resources(stack, "google_cloudbuild_trigger")
    return [t for t in triggers if t.get("pubsub_config", {}).get("topic", "").startswith(on_announcements)]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_environment_has_each_pipelines_announcement_topic(stacks, configs, env):
    topics = {t["name"] for t in resources(stacks[env], "google_pubsub_topic")}
    announced = {t for t in topics if t.endswith("-model-registered")}
    assert announced == {f"penguins-{env}-{p}-model-registered" for p in configs[env].pipelines}
    assert len(announced) == 2
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        output = stacks[env]["output"][f"model_registered_topic_{pipeline}"]["value"]
        reference = f"${{google_pubsub_topic.model-registered-{pipeline}_topic_"
        assert output.startswith(reference) and output.endswith(".name}")
        # RegistryPush announces on the topic the stack makes for its pipeline (contracts.registry).
        topic = f"projects/my-{env}-project/topics/penguins-{env}-{pipeline}-model-registered"
        assert registry_target(each).topic == topic


def test_dev_auto_promotes_each_announced_version_with_the_promote_config_as_ci(stacks, configs):
    assert configs["dev"].release.auto_promote is True
    triggers = {t["name"]: t for t in _autopromote(stacks["dev"])}
    assert set(triggers) == {f"penguins-dev-{p}-autopromote" for p in configs["dev"].pipelines}
    assert len(triggers) == 2
    declared = yaml.safe_load((REPO_ROOT / "ci/cloudbuild/promote.yaml").read_text())["substitutions"]
    for pipeline in sorted(configs["dev"].pipelines):
        trigger = triggers[f"penguins-dev-{pipeline}-autopromote"]
        # Each pipeline's announcements promote that pipeline's versions only.
        topic = f"${{google_pubsub_topic.model-registered-{pipeline}_topic_"
        assert trigger["pubsub_config"]["topic"].startswith(topic)
        assert trigger["git_file_source"]["path"] == route("promote").config == "ci/cloudbuild/promote.yaml"
        assert trigger["source_to_build"]["ref"] == "refs/heads/main"
        assert trigger["service_account"].startswith("${google_service_account.accounts_ci_")
        assert trigger["approval_config"] == {"approval_required": False}
        subs = trigger["substitutions"]
        assert subs["_ACTION"] == "auto-promote"
        assert subs["_VERSION"] == "$(body.message.attributes.version)"
        assert {k: subs[k] for k in MESSAGE_SUBSTITUTIONS} == MESSAGE_SUBSTITUTIONS
        # Exactly what the promote config declares, nothing it would not read.
        assert set(subs) == set(declared)
        assert (subs["_ENV"], subs["_NAME_PREFIX"], subs["_PIPELINE"]) == ("dev", "penguins-dev", pipeline)


def test_prod_has_no_auto_promotion_its_promotion_waits_for_an_approval(stacks, configs):
    assert configs["prod"].release.auto_promote is False
    assert _autopromote(stacks["prod"]) == []
    # Its only Pub/Sub-triggered builds are the canary's, which apply a recorded verdict (test_canary.py).
    pubsub = [t["name"] for t in resources(stacks["prod"], "google_cloudbuild_trigger") if "pubsub_config" in t]
    assert sorted(pubsub) == ["penguins-prod-diabetes-canary", "penguins-prod-penguins-canary"]
