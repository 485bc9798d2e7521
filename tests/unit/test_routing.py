"""The routing table: which changes run which workflows, with Cloud Build's filter semantics."""

from __future__ import annotations

import pytest

from ci.cicd import ORDER
from ci.plan import plan
from ci.routing import (
    PER_PIPELINE,
    PULL_REQUEST_ROUTES,
    PUSH_ROUTES,
    ROUTES,
    Route,
    fired,
    fired_on_pull_request,
    fires,
    matches,
    plan_workflows,
    route,
    trigger_kind,
)

CASES = [
    # (changed files, workflows that run, triggers that fire)
    (["pipelines/penguins/modules/model.py"], ["modules"], ["modules"]),
    (
        ["pipelines/penguins/modules/model.py", "README.md", "tests/unit/test_penguins_model.py"],
        ["modules"],
        ["modules"],
    ),
    (["pipelines/penguins/modules/preprocessing.py", "pipelines/penguins/modules/README.md"], ["modules"], ["modules"]),
    (["pipelines/penguins/modules/model.py", "components/span_range.py"], ["full"], ["full", "modules"]),
    (["pipelines/penguins/modules/model.py", "Dockerfile"], ["full"], ["full", "modules"]),
    (["README.md"], [], []),
    (["docs/design.md", "infra/README.md", "LICENSE"], [], []),
    (["tests/unit/test_penguins_model.py"], [], []),
    (["components/hyperparameters.py"], ["full"], ["full"]),
    (["pipelines/pipeline.py"], ["full"], ["full"]),
    (["release/publishing/store.py"], ["full"], ["full"]),
    (["requirements/pipeline.txt"], ["full"], ["full"]),
    (["requirements/infra.txt"], ["infra"], ["infra"]),
    (["infra/stacks/environment.py"], ["infra"], ["infra"]),
    (["infra/constructs/deep/nested/thing.py"], ["infra"], ["infra"]),
    (["cloudfunctions/trigger_pipeline/main.py"], ["function"], ["function"]),
    (["infra/main.py", "components/span_range.py"], ["full", "infra"], ["full", "infra"]),
    (["envs/dev.yaml"], ["full", "infra"], ["full", "infra"]),
    (["ci/cloudbuild/modules.yaml"], ["modules"], ["modules"]),
    (["ci/routing.py"], ["infra"], ["infra"]),
    # A rename is a deletion plus an addition: both paths count (git diff --no-renames).
    (["pipelines/penguins/modules/old_name.py", "pipelines/penguins/modules/new_name.py"], ["modules"], ["modules"]),
    (["pipelines/penguins/modules/model.py", "components/moved_here.py"], ["full"], ["full", "modules"]),
    # A deletion of a file that went into the image is a change to the image.
    (["components/validation_gate.py"], ["full"], ["full"]),
    # What only the release commands run retrains nothing; the model tests re-test the champion.
    (["release/models_cli.py", "release/approvals.py", "release/datacheck/check.py"], [], []),
    # The monitor runs outside any pipeline run: its code and its build config fire nothing (its route is manual).
    (["release/monitor/cli.py", "ci/cloudbuild/monitor.yaml"], [], []),
    # Nor does the canary build the monitor's message starts (pubsub); the canary's code is the model tests'.
    (["ci/cloudbuild/canary.yaml"], [], []),
    (["release/model_tests/smoke.py"], ["model-tests"], ["model-tests"]),
    (["pipelines/diabetes/model_tests/smoke_records.json"], ["model-tests"], ["model-tests"]),
    (["release/promotion/moves.py"], ["model-tests"], ["model-tests"]),
    (["components/registry/predictor.py"], ["full", "model-tests"], ["full", "model-tests"]),
    (["release/submit.py"], ["full"], ["full"]),
]


@pytest.mark.parametrize(("files", "workflows", "triggers"), CASES)
def test_routing_table(files, workflows, triggers):
    assert plan_workflows(files) == workflows
    assert fired(files) == triggers


@pytest.mark.parametrize(("files", "workflows", "triggers"), CASES)
def test_every_pull_request_runs_the_checks_whatever_it_changes(files, workflows, triggers):
    """A required check must report on every pull request (docs and tests only included), never on a push."""
    assert fired_on_pull_request(files) == ["checks"]
    result = plan(files)
    assert result["pull_request"] == ["checks"]
    assert (result["workflows"], result["triggers"]) == (workflows, triggers)


def test_the_checks_are_the_only_pull_request_route_and_the_push_routes_are_the_main_jobs():
    assert [r.workflow for r in PULL_REQUEST_ROUTES] == ["checks"]
    assert route("checks").event == "pull_request"
    assert route("checks").config == "ci/cloudbuild/checks.yaml"
    # The local main job plans and orders exactly the push workflows.
    assert sorted(r.workflow for r in PUSH_ROUTES) == sorted(ORDER)
    assert "checks" not in plan_workflows(["README.md", "tests/unit/test_penguins_model.py", "components/gate.py"])


def test_the_promote_route_is_manual_so_no_push_or_pull_request_ever_fires_it():
    promote = route("promote")
    assert (promote.event, promote.config) == ("manual", "ci/cloudbuild/promote.yaml")
    assert promote not in PUSH_ROUTES and promote not in PULL_REQUEST_ROUTES
    # Its own config, the models command, everything: a push plans as before.
    changed = ["ci/cloudbuild/promote.yaml", "release/models_cli.py", "release/approvals.py", "ci/routing.py"]
    assert "promote" not in plan_workflows(changed) and "promote" not in fired_on_pull_request(changed)


def test_the_datacheck_route_is_manual_so_only_its_schedule_starts_it():
    datacheck = route("datacheck")
    assert (datacheck.event, datacheck.config, datacheck.requested) == ("manual", "ci/cloudbuild/datacheck.yaml", ())
    assert datacheck not in PUSH_ROUTES and datacheck not in PULL_REQUEST_ROUTES
    changed = ["ci/cloudbuild/datacheck.yaml", "release/datacheck/check.py", "envs/dev.yaml"]
    assert "datacheck" not in plan_workflows(changed) and "datacheck" not in fired_on_pull_request(changed)


def test_the_monitor_route_is_manual_per_pipeline_and_says_why_it_never_waits_for_an_approver():
    monitor = route("monitor")
    assert (monitor.event, monitor.config, monitor.requested) == (
        "manual",
        "ci/cloudbuild/monitor.yaml",
        ("_WINDOW_END", "_NOW"),
    )
    assert (monitor.included, monitor.ignored) == ((), ())
    assert "monitor" in PER_PIPELINE and trigger_kind("monitor", "penguins") == "penguins-monitor"
    # Scheduled like the data check: a build nobody approves would never run.
    assert monitor.approval_exempt and route("datacheck").approval_exempt
    assert [r.workflow for r in ROUTES if r.approval_exempt] == ["datacheck", "monitor", "canary"]
    assert monitor not in PUSH_ROUTES and monitor not in PULL_REQUEST_ROUTES
    changed = ["ci/cloudbuild/monitor.yaml", "release/monitor/cli.py", "envs/dev.yaml"]
    assert "monitor" not in plan_workflows(changed) and "monitor" not in fired_on_pull_request(changed)


def test_the_canary_route_is_pubsub_triggered_per_pipeline_and_says_why_it_never_waits_for_an_approver():
    """A message on its pipeline's canary-verdict topic starts it (the monitor publishes one once it recorded a
    verdict); it applies that verdict, so it takes nothing from the message and waits for nobody: the canary's
    start (promote) was the approved step."""
    canary = route("canary")
    assert (canary.event, canary.topic, canary.config) == ("pubsub", "canary-verdict", "ci/cloudbuild/canary.yaml")
    assert (canary.included, canary.ignored, canary.requested) == ((), (), ())
    assert "canary" in PER_PIPELINE and trigger_kind("canary", "penguins") == "penguins-canary"
    assert canary.approval_exempt and not route("promote").approval_exempt
    assert canary.approval_exempt == (
        "it only applies a verdict the monitor recorded for a canary whose start was approved; ending it either "
        "way is the rollout's own decision, and the build can do nothing but that"
    )
    assert canary not in PUSH_ROUTES and canary not in PULL_REQUEST_ROUTES
    changed = ["ci/cloudbuild/canary.yaml", "release/promotion/canary.py", "release/monitor/canary.py", "envs/dev.yaml"]
    assert "canary" not in plan_workflows(changed) and "canary" not in fired_on_pull_request(changed)
    assert "canary" not in fired(changed)


def test_every_manual_or_pubsub_route_is_one_pipelines_and_has_no_globs():
    """What no change fires is started for one pipeline (by `models`, a Scheduler job, the monitor's message)."""
    manual = [r for r in ROUTES if r.event == "manual"]
    assert [r.workflow for r in manual] == ["promote", "datacheck", "monitor"]
    pubsub = [r for r in ROUTES if r.event == "pubsub"]
    assert [(r.workflow, r.topic) for r in pubsub] == [("canary", "canary-verdict")]
    assert all(r.workflow in PER_PIPELINE and (r.included, r.ignored) == ((), ()) for r in manual + pubsub)
    assert all(not r.topic for r in ROUTES if r.event != "pubsub")


def test_a_pubsub_route_needs_its_topic_and_takes_no_globs_or_requests():
    with pytest.raises(ValueError, match="a topic is what starts a pubsub route"):
        Route("x", "ci/cloudbuild/x.yaml", (), (), "x", event="pubsub")
    with pytest.raises(ValueError, match="a topic is what starts a pubsub route"):
        Route("x", "ci/cloudbuild/x.yaml", (), (), "x", event="manual", topic="x-verdict")
    with pytest.raises(ValueError, match="no globs and no requested substitutions"):
        Route("x", "ci/cloudbuild/x.yaml", ("**",), (), "x", event="pubsub", topic="x-verdict")
    with pytest.raises(ValueError, match="no globs and no requested substitutions"):
        Route("x", "ci/cloudbuild/x.yaml", (), (), "x", event="pubsub", topic="x-verdict", requested=("_VERSION",))


def test_a_route_with_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="event 'tag'"):
        Route("release", "ci/cloudbuild/release.yaml", ("**",), (), "tag builds", event="tag")


def test_plan_reports_what_full_supersedes():
    result = plan(["pipelines/penguins/modules/model.py", "components/span_range.py"])
    assert result["workflows"] == ["full"]
    assert result["superseded"] == {"modules": "full"}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("pipelines/**", "pipelines/a/b/c.py", True),
        ("pipelines/**", "pipelines", False),
        ("**/*.md", "README.md", True),
        ("**/*.md", "a/b/README.md", True),
        ("*.md", "a/README.md", False),  # Go's `*` never crosses a separator
        ("pipelines/*.py", "pipelines/penguins/modules/model.py", False),
        ("pipelines/*.py", "pipelines/pipeline.py", True),
        ("requirements/pipeline.*", "requirements/pipeline.txt", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("[abc].py", "b.py", True),
        ("[^abc].py", "b.py", False),
        ("[^abc].py", "d.py", True),
        ("a/**/z.py", "a/z.py", True),
        ("a/**/z.py", "a/b/c/z.py", True),
        ("literal\\*.py", "literal*.py", True),
        ("literal\\*.py", "literalx.py", False),
    ],
)
def test_glob_semantics(pattern, path, expected):
    assert matches(pattern, path) is expected


def test_bad_globs_and_paths_are_refused():
    with pytest.raises(ValueError, match="unterminated"):
        matches("[abc.py", "a.py")
    with pytest.raises(ValueError, match="relative"):
        plan(["/etc/passwd"])
    with pytest.raises(ValueError, match="relative"):
        plan(["../outside.py"])


def test_cloud_build_filter_rules():
    modules = route("modules")
    # Every changed file ignored: the trigger does not fire even though an included glob would match.
    assert not fires(modules, ["pipelines/penguins/modules/NOTES.md"])
    assert fires(modules, ["pipelines/penguins/modules/model.py", "README.md"])
    with pytest.raises(KeyError, match="unknown workflow"):
        route("nightly")


PIPELINES = ("diabetes", "penguins")


@pytest.mark.parametrize(
    ("changed", "planned"),
    [
        # One pipeline's modules: only its fast path; the other pipeline does not run at all.
        (["pipelines/diabetes/modules/model.py"], {"modules": ["diabetes"]}),
        # One pipeline's definition, schema or spans: only that pipeline retrains.
        # (A definition also says how its model tests judge: its champion is re-tested.)
        (["pipelines/penguins/pipeline.py"], {"full": ["penguins"], "model-tests": []}),
        (["pipelines/diabetes/schema/schema.pbtxt"], {"full": ["diabetes"]}),
        (["pipelines/penguins/data/span-1/penguins.csv"], {"full": ["penguins"]}),
        # Both at once: each its own workflow; full supersedes modules per pipeline only.
        (
            ["pipelines/diabetes/modules/model.py", "pipelines/penguins/pipeline.py"],
            {"full": ["penguins"], "model-tests": [], "modules": ["diabetes"]},
        ),
        (
            ["pipelines/penguins/modules/model.py", "pipelines/penguins/pipeline.py"],
            {"full": ["penguins"], "model-tests": []},
        ),
        # A shared component or the image: every pipeline retrains.
        (["components/span_range.py"], {"full": ["diabetes", "penguins"]}),
        (["pipelines/diabetes/modules/model.py", "Dockerfile"], {"full": ["diabetes", "penguins"]}),
        # What runs once for the environment names no pipeline; a derive script or a README runs nothing.
        (["infra/main.py"], {"infra": []}),
        (["pipelines/diabetes/data/derive.py", "pipelines/diabetes/data/README.md"], {}),
    ],
)
def test_per_pipeline_workflows_run_for_the_pipelines_a_change_touches(changed, planned):
    from ci.routing import plan_pipelines

    assert plan_pipelines(changed, PIPELINES) == planned


def test_the_plan_names_the_pipelines_a_change_fires():
    result = plan(["pipelines/diabetes/modules/preprocessing.py"], PIPELINES)
    assert (result["workflows"], result["pipelines"]) == (["modules"], {"modules": ["diabetes"]})
    assert plan(["README.md"], PIPELINES)["pipelines"] == {}


def _every_path() -> list[str]:
    """Every file of the checkout, and what a new one could be: in a pipeline's folder, in a folder of pipelines/
    that is no pipeline, directly under pipelines/, in each place a per-pipeline glob names."""
    import subprocess

    from contracts.config import REPO_ROOT

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    made_up = ["pipelines/new.py", "pipelines/notapipeline/x.py", "pipelines/README.md", "Dockerfile"]
    for name in PIPELINES:
        made_up += [f"pipelines/{name}/{rest}" for rest in ("x.py", "modules/new.py", "data/span-9/x.csv", "a/b/c")]
    return sorted(set(tracked.stdout.split()) | set(made_up))


@pytest.mark.parametrize("workflow", ["full", "modules"])
def test_each_pipelines_own_trigger_fires_exactly_when_the_plan_runs_that_pipeline(workflow):
    """What infra provisions per pipeline (Route.for_pipeline: its globs) and what the local plan decides
    (fired_pipelines) agree on every file: each decides per file, so agreeing on each file is agreeing on any
    change. A change in one pipeline's folder fires its trigger only; a shared one fires every pipeline's."""
    from ci.routing import PER_PIPELINE, fired_pipelines

    assert workflow in PER_PIPELINE
    own = {name: route(workflow).for_pipeline(name) for name in PIPELINES}
    disagreements = [
        (path, name)
        for path in _every_path()
        for name in PIPELINES
        if fires(own[name], [path]) != (name in fired_pipelines(workflow, [path], PIPELINES))
    ]
    assert disagreements == []
    # Not vacuous: each pipeline's own files fire its trigger and not the other's.
    assert fires(own["diabetes"], ["pipelines/diabetes/modules/model.py"]) == (workflow == "modules")
    assert fires(own["penguins"], ["pipelines/diabetes/pipeline.py"]) is False
    assert fires(own["penguins"], ["pipelines/penguins/pipeline.py"]) == (workflow == "full")
    assert fires(own["penguins"], ["components/span_range.py"]) == (workflow == "full")
