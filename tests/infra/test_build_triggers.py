"""Cloud Build triggers: the routing table and the trigger filters agree, one trigger per workflow, and one per
pipeline for the workflows that run per pipeline (full, modules, promote, datacheck, monitor, canary); a pubsub
route's (canary) on its pipeline's own topic, made with it."""

from __future__ import annotations

import pytest

from ci.routing import PER_PIPELINE, PULL_REQUEST_ROUTES, PUSH_ROUTES, ROUTES, Route, trigger_kind
from ci.routing import route as route_of
from contracts.environment import REPO_ROOT, Gcp
from infra import access
from infra.parts.build_triggers import ADOPT_CONFIG, PUBLISHING, branch_ref, build_config, planned_triggers, topic_kind
from infra.parts.model_registered import WORKFLOW as AUTOPROMOTE
from tests.infra.conftest import has_resource, resources


def _triggers(stack):
    """The routing table's triggers (the autopromote trigger is the announcement's: test_model_registered.py)."""
    return {
        t["name"]: t for t in resources(stack, "google_cloudbuild_trigger") if not t["name"].endswith(f"-{AUTOPROMOTE}")
    }


def _config(trigger) -> str:
    return trigger.get("filename") or trigger["git_file_source"]["path"]


def _names(config, route: Route) -> dict[str, str | None]:
    """The route's triggers in the environment, each with its pipeline: one per pipeline of the environment for a
    per-pipeline route (each pipeline's own, <prefix>-<pipeline>-<workflow>), else one, the environment's (None)."""
    if route.workflow in PER_PIPELINE:
        return {f"penguins-{config.name}-{p}-{route.workflow}": p for p in sorted(config.pipelines)}
    return {f"penguins-{config.name}-{route.workflow}": None}


def _planned(config) -> dict[str, tuple[str | None, Route]]:
    """Every trigger of the routing table in the environment: its name -> (its pipeline or None, its route)."""
    return {name: (pipeline, route) for route in ROUTES for name, pipeline in _names(config, route).items()}


def _workflow(config, name: str) -> str:
    return _planned(config)[name][1].workflow


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_trigger_per_route_with_the_routes_filters(stacks, configs, env):
    """Every route, the data check's included: no route needs a trigger made by hand; a per-pipeline route has
    one trigger per pipeline, filtered to that pipeline's folder and the shared files."""
    config = configs[env]
    triggers = _triggers(stacks[env])
    assert set(config.pipelines) == {"diabetes", "penguins"}
    assert set(triggers) == set(_planned(config))
    assert len(triggers) == len(ROUTES) + len(PER_PIPELINE) * (len(config.pipelines) - 1)
    for name, (pipeline, route) in _planned(config).items():
        trigger = triggers[name]
        own = route.for_pipeline(pipeline) if pipeline else route
        # An empty filter is left out: Cloud Build then considers every changed file.
        assert trigger.get("included_files", []) == list(own.included)
        assert trigger.get("ignored_files", []) == list(own.ignored)
        assert _config(trigger) == build_config(config, route)
        if build_config(config, route) == route.config:
            assert trigger["description"] == route.description


def test_prod_adopts_on_the_publishing_routes_and_dev_publishes(stacks, configs):
    """prod (gcp.releases_from: dev) compiles nothing: each pipeline's full and modules triggers run the adopt
    config."""
    for route in ROUTES:
        for dev_name, prod_name in zip(_names(configs["dev"], route), _names(configs["prod"], route), strict=True):
            dev, prod = _triggers(stacks["dev"])[dev_name], _triggers(stacks["prod"])[prod_name]
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
def test_triggers_run_as_their_workflows_account_on_the_connected_repository(stacks, configs, env):
    for name, trigger in _triggers(stacks[env]).items():
        # google_service_account.id is projects/<project>/serviceAccounts/<email>, the form Cloud Build wants.
        account = access.build_account(_workflow(configs[env], name))
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
        for name in _names(configs[env], route):
            event = triggers[name]["repository_event_config"]
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
        exempt = route_of(_workflow(configs[env], name)).approval_exempt
        assert trigger["approval_config"] == {"approval_required": required and not exempt}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_triggers_set_exactly_the_substitutions_each_build_config_declares(stacks, configs, env):
    import yaml

    for name, (pipeline, route) in _planned(configs[env]).items():
        trigger = _triggers(stacks[env])[name]
        config = build_config(configs[env], route)
        declared = yaml.safe_load((REPO_ROOT / config).read_text())["substitutions"]
        assert set(trigger["substitutions"]) == set(declared), config
        assert trigger["substitutions"]["_ENV"] == env
        assert trigger["substitutions"]["_NAME_PREFIX"] == configs[env].gcp.name_prefix
        # Each pipeline's trigger tells its builds which pipeline; a route that runs once has none.
        assert trigger["substitutions"].get("_PIPELINE") == pipeline, name
        assert ("_PIPELINE" in declared) == (route.workflow in PER_PIPELINE), config


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_promote_trigger_is_manual_on_the_ci_branch_and_approval_gated_as_the_file_says(
    stacks, configs, env
):
    """No push or pull request starts one (no event block, no filters): only run_build_trigger, from `models`
    (--pipeline names whose)."""
    assert route_of("promote").event == "manual"
    requested = ("_ACTION", "_VERSION", "_BY", "_REASON")
    assert route_of("promote").requested == requested
    repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
    for pipeline in sorted(configs[env].pipelines):
        trigger = _triggers(stacks[env])[f"penguins-{env}-{pipeline}-promote"]
        assert "repository_event_config" not in trigger and "filename" not in trigger
        assert "included_files" not in trigger and "ignored_files" not in trigger
        source = {"repository": repository, "ref": "refs/heads/main", "repo_type": "GITHUB"}
        assert trigger["source_to_build"] == source
        assert trigger["git_file_source"] == {
            "repository": repository,
            "revision": "refs/heads/main",
            "path": "ci/cloudbuild/promote.yaml",
            "repo_type": "GITHUB",
        }
        assert trigger["approval_config"] == {"approval_required": configs[env].gcp.ci.require_approval}
        assert {k: trigger["substitutions"][k] for k in requested} == dict.fromkeys(requested, "")
        assert trigger["substitutions"]["_PIPELINE"] == pipeline


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_a_pubsub_routes_triggers_listen_to_a_topic_each_its_pipelines_own(stacks, configs, env):
    """A pubsub route (canary) has one topic per pipeline, <prefix>-<pipeline>-<route.topic>, made with its trigger;
    every other route's trigger has no pubsub_config (a push, a pull request, or triggers.run starts it)."""
    stack, gcp = stacks[env], configs[env].gcp
    topics = {name: body["name"] for name, body in stack["resource"]["google_pubsub_topic"].items()}
    pubsub = [route for route in ROUTES if route.event == "pubsub"]
    assert [route.workflow for route in pubsub] == ["canary"]
    for name, (pipeline, route) in _planned(configs[env]).items():
        trigger = _triggers(stack)[name]
        if route.event != "pubsub":
            assert "pubsub_config" not in trigger, name
            continue
        assert pipeline is not None and route.workflow in PER_PIPELINE
        reference = trigger["pubsub_config"]["topic"]
        assert reference.startswith("${google_pubsub_topic.") and reference.endswith(".id}")
        own = topics[reference.removeprefix("${google_pubsub_topic.").removesuffix(".id}")]
        assert own == gcp.pipeline_resource(pipeline, route.topic) == gcp.name(topic_kind(route, pipeline))
        # Built like a manual trigger (the CI branch's config), never on a push.
        assert "repository_event_config" not in trigger and "filename" not in trigger
        assert trigger["git_file_source"]["path"] == route.config
        assert trigger["source_to_build"]["ref"] == branch_ref(gcp)
    made = {t for t in topics.values() if any(t.endswith(f"-{route.topic}") for route in pubsub)}
    assert made == {gcp.pipeline_resource(p, r.topic) for p in configs[env].pipelines for r in pubsub}


def test_only_a_per_pipeline_pubsub_route_has_a_pipelines_topic():
    """(What a pubsub route may declare: tests/unit/test_routing.py.)"""
    assert topic_kind(route_of("canary"), "diabetes") == "diabetes-canary-verdict"
    with pytest.raises(ValueError, match="only a per-pipeline pubsub route"):
        topic_kind(route_of("promote"), "penguins")


def test_a_manual_trigger_needs_one_literal_branch(configs):
    gcp = configs["prod"].gcp
    assert branch_ref(gcp) == "refs/heads/main"
    pattern = Gcp.model_validate({**gcp.model_dump(), "ci": {**gcp.ci.model_dump(), "branch": "^release/.*$"}})
    with pytest.raises(ValueError, match=r"gcp.ci.branch '\^release/\.\*\$'.*\^name\$"):
        branch_ref(pattern)


def test_each_pipeline_of_an_environment_has_its_own_per_pipeline_triggers(configs):
    """dev has two pipelines: full, modules, promote and datacheck are one trigger each per pipeline, named by
    the per-pipeline rule, filtered to that pipeline's folder and telling its builds which pipeline."""
    dev = configs["dev"]
    assert set(dev.pipelines) == {"diabetes", "penguins"}
    planned = {kind: (each, route) for kind, each, route in planned_triggers(dev)}
    per_pipeline = {f"{p}-{w}" for p in ("diabetes", "penguins") for w in PER_PIPELINE}
    assert set(planned) == per_pipeline | {r.workflow for r in ROUTES if r.workflow not in PER_PIPELINE}
    for pipeline in ("diabetes", "penguins"):
        for workflow in PER_PIPELINE:
            each, route = planned[f"{pipeline}-{workflow}"]
            assert each.selected == pipeline and route == route_of(workflow).for_pipeline(pipeline)
            assert dev.gcp.name(trigger_kind(workflow, pipeline)) == dev.gcp.pipeline_resource(pipeline, workflow)
    for pipeline, other in (("penguins", "diabetes"), ("diabetes", "penguins")):
        assert f"pipelines/{pipeline}/modules/**" in planned[f"{pipeline}-modules"][1].included
        assert not any(other in glob for glob in planned[f"{pipeline}-full"][1].included)
