"""Cloud Build triggers: the routing table and the trigger filters agree, one trigger per workflow."""

from __future__ import annotations

import pytest

from ci.routing import PULL_REQUEST_ROUTES, PUSH_ROUTES, ROUTES
from ci.routing import route as route_of
from contracts.environment import Gcp
from infra.parts.build_triggers import branch_ref
from tests.infra.conftest import has_resource, resources


def _triggers(stack):
    return {t["name"]: t for t in resources(stack, "google_cloudbuild_trigger")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_trigger_per_route_with_the_routes_filters(stacks, env):
    triggers = _triggers(stacks[env])
    assert set(triggers) == {f"penguins-{env}-{route.workflow}" for route in ROUTES}
    for route in ROUTES:
        trigger = triggers[f"penguins-{env}-{route.workflow}"]
        # An empty filter is left out: Cloud Build then considers every changed file.
        assert trigger.get("included_files", []) == list(route.included)
        assert trigger.get("ignored_files", []) == list(route.ignored)
        config = trigger["git_file_source"]["path"] if route.event == "manual" else trigger["filename"]
        assert config == route.config
        assert trigger["description"] == route.description


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_run_as_ci_on_the_connected_repository(stacks, env):
    for trigger in _triggers(stacks[env]).values():
        # google_service_account.id is projects/<project>/serviceAccounts/<email>, the form Cloud Build wants.
        assert trigger["service_account"].startswith("${google_service_account.accounts_ci_")
        assert trigger["service_account"].endswith(".id}")
        assert trigger["location"] == "europe-west4"
        repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
        source = trigger.get("repository_event_config") or trigger["source_to_build"]
        assert source["repository"] == repository
        subs = trigger["substitutions"]
        assert (subs["_ENV"], subs["_REGION"], subs["_NAME_PREFIX"]) == (env, "europe-west4", f"penguins-{env}")
        assert subs["_LOGS_BUCKET"].startswith("${google_storage_bucket.buckets_build-logs_")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_push_routes_fire_on_a_push_to_the_ci_branch(stacks, configs, env):
    triggers = _triggers(stacks[env])
    for route in PUSH_ROUTES:
        event = triggers[f"penguins-{env}-{route.workflow}"]["repository_event_config"]
        assert set(event) == {"repository", "push"}
        assert event["push"] == {"branch": configs[env].gcp.ci.branch}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_checks_fire_on_every_pull_request_to_the_ci_branch(stacks, synthesized, configs, env):
    """A pull_request block on the branch regex, no file filter, the checks config; forks wait for /gcbrun."""
    assert [r.workflow for r in PULL_REQUEST_ROUTES] == ["checks"]
    trigger = _triggers(stacks[env])[f"penguins-{env}-checks"]
    event = trigger["repository_event_config"]
    assert set(event) == {"repository", "pull_request"}
    assert event["pull_request"] == {
        "branch": configs[env].gcp.ci.branch,
        "comment_control": "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY",
    }
    assert "included_files" not in trigger and "ignored_files" not in trigger
    assert has_resource(
        synthesized[env],
        "google_cloudbuild_trigger",
        {"name": f"penguins-{env}-checks", "filename": "ci/cloudbuild/checks.yaml"},
    )


@pytest.mark.parametrize(("env", "required"), [("dev", False), ("prod", True)])
def test_approval_follows_the_environment_file(stacks, configs, env, required):
    assert configs[env].gcp.ci.require_approval is required
    for name, trigger in _triggers(stacks[env]).items():
        # The scheduled data check is exempt everywhere (infra/parts/datacheck_schedule.py says why).
        expected = False if name == f"penguins-{env}-datacheck" else required
        assert trigger["approval_config"] == {"approval_required": expected}


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


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_promote_trigger_is_manual_on_the_ci_branch_and_approval_gated_as_the_file_says(stacks, configs, env):
    """No push or pull request starts it (no event block, no filters): only run_build_trigger, from `models`."""
    assert route_of("promote").event == "manual"
    trigger = _triggers(stacks[env])[f"penguins-{env}-promote"]
    assert "repository_event_config" not in trigger and "filename" not in trigger
    assert "included_files" not in trigger and "ignored_files" not in trigger
    repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
    assert trigger["source_to_build"] == {"repository": repository, "ref": "refs/heads/main", "repo_type": "GITHUB"}
    assert trigger["git_file_source"] == {
        "repository": repository,
        "revision": "refs/heads/main",
        "path": "ci/cloudbuild/promote.yaml",
        "repo_type": "GITHUB",
    }
    assert trigger["approval_config"] == {"approval_required": configs[env].gcp.ci.require_approval}
    requested = ("_ACTION", "_VERSION", "_BY", "_REASON")
    assert route_of("promote").requested == requested
    assert {k: trigger["substitutions"][k] for k in requested} == dict.fromkeys(requested, "")


def test_a_manual_trigger_needs_one_literal_branch(configs):
    gcp = configs["prod"].gcp
    assert branch_ref(gcp) == "refs/heads/main"
    pattern = Gcp.model_validate({**gcp.model_dump(), "ci": {**gcp.ci.model_dump(), "branch": "^release/.*$"}})
    with pytest.raises(ValueError, match=r"gcp.ci.branch '\^release/\.\*\$'.*\^name\$"):
        branch_ref(pattern)
