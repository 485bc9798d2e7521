"""Cloud Build triggers: the routing table and the trigger filters agree, one trigger per workflow, and one per
pipeline for the workflows that run per pipeline (full, modules)."""

from __future__ import annotations

import pytest

from ci.routing import PER_PIPELINE, PULL_REQUEST_ROUTES, PUSH_ROUTES, ROUTES, Route, trigger_kind
from ci.routing import route as route_of
from contracts.environment import REPO_ROOT, Gcp
from infra import access
from infra.parts.build_triggers import ADOPT_CONFIG, PUBLISHING, branch_ref, build_config, planned_triggers
from tests.infra.conftest import has_resource, resources


def _triggers(stack):
    """The routing table's triggers (the autopromote trigger is the announcement's: test_model_registered.py)."""
    return {t["name"]: t for t in resources(stack, "google_cloudbuild_trigger") if "pubsub_config" not in t}


def _config(trigger) -> str:
    return trigger.get("filename") or trigger["git_file_source"]["path"]


def _name(env: str, route: Route) -> str:
    """The route's trigger in the environment: the penguins pipeline's own for a per-pipeline route."""
    own = route.workflow in PER_PIPELINE
    return f"penguins-{env}-penguins-{route.workflow}" if own else f"penguins-{env}-{route.workflow}"


def _workflow(env: str, name: str) -> str:
    kind = name.removeprefix(f"penguins-{env}-")
    own = kind.removeprefix("penguins-")
    return own if own in PER_PIPELINE else kind


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_trigger_per_route_with_the_routes_filters(stacks, configs, env):
    """Every route, the data check's included: no route needs a trigger made by hand."""
    triggers = _triggers(stacks[env])
    assert set(triggers) == {_name(env, route) for route in ROUTES}
    for route in ROUTES:
        trigger = triggers[_name(env, route)]
        own = route.for_pipeline("penguins") if route.workflow in PER_PIPELINE else route
        # An empty filter is left out: Cloud Build then considers every changed file.
        assert trigger.get("included_files", []) == list(own.included)
        assert trigger.get("ignored_files", []) == list(own.ignored)
        assert _config(trigger) == build_config(configs[env], route)
        if build_config(configs[env], route) == route.config:
            assert trigger["description"] == route.description


def test_prod_adopts_on_the_publishing_routes_and_dev_publishes(stacks):
    """prod (gcp.releases_from: dev) compiles nothing: its full and modules triggers run the adopt config."""
    for route in ROUTES:
        dev, prod = (
            _triggers(stacks["dev"])[_name("dev", route)],
            _triggers(stacks["prod"])[_name("prod", route)],
        )
        assert _config(dev) == route.config
        assert _config(prod) == (ADOPT_CONFIG if route.workflow in PUBLISHING else route.config)
        if route.workflow in PUBLISHING:
            assert "template dev published for the commit" in prod["description"]


def test_the_publishing_workflows_are_the_routes_whose_config_publishes():
    import yaml

    publishing = set()
    for route in ROUTES:
        steps = yaml.safe_load((REPO_ROOT / route.config).read_text())["steps"]
        if any("publish" in step.get("args", []) for step in steps):
            publishing.add(route.workflow)
    assert publishing == set(PUBLISHING)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_run_as_their_workflows_account_on_the_connected_repository(stacks, env):
    for name, trigger in _triggers(stacks[env]).items():
        # google_service_account.id is projects/<project>/serviceAccounts/<email>, the form Cloud Build wants.
        account = access.build_account(_workflow(env, name))
        assert trigger["service_account"].startswith(f"${{google_service_account.accounts_{account}_")
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
        event = triggers[_name(env, route)]["repository_event_config"]
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
        # The scheduled data check is exempt everywhere: its route says why (ci/routing.py: approval_exempt).
        exempt = route_of(_workflow(env, name)).approval_exempt
        assert trigger["approval_config"] == {"approval_required": required and not exempt}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_set_exactly_the_substitutions_each_build_config_declares(stacks, configs, env):
    import yaml

    for route in ROUTES:
        trigger = _triggers(stacks[env])[_name(env, route)]
        config = build_config(configs[env], route)
        declared = yaml.safe_load((REPO_ROOT / config).read_text())["substitutions"]
        assert set(trigger["substitutions"]) == set(declared), config
        assert trigger["substitutions"]["_ENV"] == env
        assert trigger["substitutions"]["_NAME_PREFIX"] == configs[env].gcp.name_prefix
        assert trigger["substitutions"]["_PIPELINE"] == configs[env].selected == "penguins"


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


def test_each_pipeline_of_an_environment_has_its_own_full_and_modules_triggers(configs):
    """A Google Cloud environment runs one pipeline today (contracts/environment.py refuses two at load), but the
    triggers are planned per pipeline already: given two, full and modules are one trigger each per pipeline,
    named by the per-pipeline rule, filtered to that pipeline's folder and telling its builds which pipeline."""
    dev = configs["dev"]
    two = dev.model_copy(update={"pipelines": {**dev.pipelines, "diabetes": dev.pipelines["penguins"]}})
    planned = {kind: (each, route) for kind, each, route in planned_triggers(two)}
    per_pipeline = {f"{p}-{w}" for p in ("diabetes", "penguins") for w in PER_PIPELINE}
    assert set(planned) == per_pipeline | {r.workflow for r in ROUTES if r.workflow not in PER_PIPELINE}
    for pipeline in ("diabetes", "penguins"):
        for workflow in PER_PIPELINE:
            each, route = planned[f"{pipeline}-{workflow}"]
            assert each.selected == pipeline and route == route_of(workflow).for_pipeline(pipeline)
            assert dev.gcp.name(trigger_kind(workflow, pipeline)) == dev.gcp.pipeline_resource(pipeline, workflow)
    assert "pipelines/penguins/modules/**" in planned["penguins-modules"][1].included
    assert not any("diabetes" in glob for glob in planned["penguins-full"][1].included)
