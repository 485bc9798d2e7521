"""Cloud Build triggers: the routing table and the trigger filters agree, one trigger per workflow."""

from __future__ import annotations

import pytest

from ci.routing import ROUTES
from tests.infra.conftest import resources


def _triggers(stack):
    return {t["name"]: t for t in resources(stack, "google_cloudbuild_trigger")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_trigger_per_route_with_the_routes_filters(stacks, env):
    triggers = _triggers(stacks[env])
    assert set(triggers) == {f"penguins-{env}-{route.workflow}" for route in ROUTES}
    for route in ROUTES:
        trigger = triggers[f"penguins-{env}-{route.workflow}"]
        assert trigger["included_files"] == list(route.included)
        assert trigger["ignored_files"] == list(route.ignored)
        assert trigger["filename"] == route.config
        assert trigger["description"] == route.description


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_run_as_ci_on_the_connected_repository(stacks, env):
    for trigger in _triggers(stacks[env]).values():
        # google_service_account.id is projects/<project>/serviceAccounts/<email>, the form Cloud Build wants.
        assert trigger["service_account"].startswith("${google_service_account.accounts_ci_")
        assert trigger["service_account"].endswith(".id}")
        assert trigger["location"] == "europe-west4"
        repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
        assert trigger["repository_event_config"] == {"repository": repository, "push": {"branch": "^main$"}}
        subs = trigger["substitutions"]
        assert (subs["_ENV"], subs["_REGION"], subs["_NAME_PREFIX"]) == (env, "europe-west4", f"penguins-{env}")
        assert subs["_LOGS_BUCKET"].startswith("${google_storage_bucket.buckets_build-logs_")


@pytest.mark.parametrize(("env", "required"), [("dev", False), ("prod", True)])
def test_approval_follows_the_environment_file(stacks, configs, env, required):
    assert configs[env].gcp.ci.require_approval is required
    for trigger in _triggers(stacks[env]).values():
        assert trigger["approval_config"] == {"approval_required": required}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_set_exactly_the_substitutions_each_build_config_declares(stacks, configs, env):
    import yaml

    from contracts.environment import REPO_ROOT

    for route in ROUTES:
        trigger = _triggers(stacks[env])[f"penguins-{env}-{route.workflow}"]
        declared = yaml.safe_load((REPO_ROOT / route.config).read_text())["substitutions"]
        assert set(trigger["substitutions"]) == set(declared), route.config
        assert trigger["substitutions"]["_ENV"] == env
        assert trigger["substitutions"]["_NAME_PREFIX"] == configs[env].gcp.name_prefix
