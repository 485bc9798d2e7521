"""Ending a canary on Google Cloud: the monitor (as the monitor account) judges it, records its verdict under the
data bucket's <pipeline>/monitoring/canary/ and publishes one message on the pipeline's topic
`<prefix>-<pipeline>-canary-verdict`; that topic's Pub/Sub trigger (`<prefix>-<pipeline>-canary`,
ci/cloudbuild/canary.yaml) runs the build, as the account the promote builds run as, that applies the verdict.
The monitor may publish there and nothing more: it creates no build and acts as no account."""

from __future__ import annotations

import pytest

from ci.routing import PER_PIPELINE, trigger_kind
from ci.routing import route as route_of
from infra import access
from infra.parts.build_triggers import topic_kind
from tests.infra.conftest import resolve, resources, synth_stack, synthesized_bindings
from tests.infra.test_access import allows

TOPIC = "canary-verdict"


def _trigger(stack, name):
    [found] = [t for t in resources(stack, "google_cloudbuild_trigger") if t["name"] == name]
    return found


def _topic_named(stack, reference: str) -> str:
    """The name of the stack's topic a trigger's pubsub_config references (${google_pubsub_topic.<id>.id})."""
    assert reference.startswith("${google_pubsub_topic.") and reference.endswith(".id}"), reference
    resource = reference.removeprefix("${google_pubsub_topic.").removesuffix(".id}")
    return str(stack["resource"]["google_pubsub_topic"][resource]["name"])


def _of(config, account):
    return [b for b in access.bindings(config) if b.grant.account == account]


def _ci(env):
    return f"projects/my-{env}-project/serviceAccounts/penguins-{env}-ci@my-{env}-project.iam.gserviceaccount.com"


def _monitor(env):
    return f"serviceAccount:penguins-{env}-monitor@my-{env}-project.iam.gserviceaccount.com"


# --- the route, its topics and triggers --------------------------------------------------------------------------


def test_the_canary_route_is_pubsub_triggered_per_pipeline_and_says_why_it_never_waits_for_an_approver():
    canary = route_of("canary")
    assert (canary.event, canary.topic, canary.config, canary.requested) == (
        "pubsub",
        TOPIC,
        "ci/cloudbuild/canary.yaml",
        (),
    )
    assert (canary.included, canary.ignored) == ((), ())
    assert "canary" in PER_PIPELINE and trigger_kind("canary", "penguins") == "penguins-canary"
    assert canary.approval_exempt == (
        "it only applies a verdict the monitor recorded for a canary whose start was approved; ending it either "
        "way is the rollout's own decision, and the build can do nothing but that"
    )
    # The route's topic is the access table's: who may publish there is who may start the build.
    assert access.CANARY_VERDICT_TOPIC.name == canary.topic and access.CANARY_VERDICT_TOPIC.per_pipeline
    assert (
        topic_kind(canary, "penguins") == access.CANARY_VERDICT_TOPIC.kind_for("penguins") == "penguins-canary-verdict"
    )
    # As the promote and autopromote builds: the account that deploys, moves the aliases, writes the journal.
    assert access.build_account("canary") == access.build_account("promote") == "ci"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_environment_has_each_pipelines_canary_verdict_topic(stacks, configs, env):
    gcp = configs[env].gcp
    names = {t["name"] for t in resources(stacks[env], "google_pubsub_topic") if t["name"].endswith(f"-{TOPIC}")}
    assert names == {gcp.pipeline_resource(p, TOPIC) for p in configs[env].pipelines}
    assert names == {f"penguins-{env}-diabetes-canary-verdict", f"penguins-{env}-penguins-canary-verdict"}
    for pipeline in sorted(configs[env].pipelines):
        output = stacks[env]["output"][f"canary_verdict_topic_{pipeline}"]["value"]
        assert resolve(stacks[env], output) == gcp.pipeline_resource(pipeline, TOPIC)
        assert f"_canary-verdict-{pipeline}_" in output


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_canary_trigger_runs_on_its_own_topic_as_the_promote_account_without_approval(
    stacks, configs, env
):
    repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
    for pipeline in sorted(configs[env].pipelines):
        trigger = _trigger(stacks[env], f"penguins-{env}-{pipeline}-canary")
        promote = _trigger(stacks[env], f"penguins-{env}-{pipeline}-promote")
        # A message on the pipeline's own topic starts it, nothing else: no push, no filters.
        own = f"penguins-{env}-{pipeline}-canary-verdict"
        assert _topic_named(stacks[env], trigger["pubsub_config"]["topic"]) == own
        assert set(trigger["pubsub_config"]) == {"topic"}
        assert "repository_event_config" not in trigger and "filename" not in trigger
        assert "included_files" not in trigger and "ignored_files" not in trigger
        # The CI branch's config, as the autopromote trigger builds it.
        assert trigger["git_file_source"]["path"] == "ci/cloudbuild/canary.yaml"
        assert trigger["git_file_source"]["revision"] == "refs/heads/main"
        assert trigger["source_to_build"] == {"repository": repository, "ref": "refs/heads/main", "repo_type": "GITHUB"}
        assert trigger["service_account"] == promote["service_account"]
        assert trigger["service_account"].startswith("${google_service_account.accounts_ci_")
        # prod too: its start was approved (the promote trigger, gated as the file says), its end is the rollout's.
        assert trigger["approval_config"] == {"approval_required": False}
        assert promote["approval_config"] == {"approval_required": configs[env].gcp.ci.require_approval}
        # Nothing from the message ($(body.message...)): what it settles is the verdict the monitor recorded, for
        # the pipeline the trigger fixes.
        logs = resolve(stacks[env], trigger["substitutions"]["_LOGS_BUCKET"])
        substitutions = {**trigger["substitutions"], "_LOGS_BUCKET": logs}
        assert substitutions == {
            "_ENV": env,
            "_REGION": "europe-west4",
            "_NAME_PREFIX": f"penguins-{env}",
            "_PIPELINE": pipeline,
            "_LOGS_BUCKET": f"penguins-{env}-build-logs",
        }
        assert not [v for v in trigger["substitutions"].values() if "body.message" in v]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_schedule_and_no_account_but_the_scheduler_runs_build_triggers(stacks, configs, env):
    """No Scheduler job starts the canary build, and the build runner role (triggers.run) stays the scheduler's
    alone, for its data-check and monitor jobs: the monitor's one way to the canary build is its topic."""
    jobs = resources(stacks[env], "google_cloud_scheduler_job")
    assert not [j for j in jobs if "canary" in j["name"] or "canary" in str(j.get("http_target", {}))]
    runners = {b.grant.account for b in access.bindings(configs[env]) if b.role.endswith("_build_runner")}
    assert runners == {"scheduler"}


# --- the monitor publishes, and can do nothing more -----------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_may_publish_on_each_pipelines_canary_verdict_topic_only(stacks, configs, env):
    topics = {f"projects/my-{env}-project/topics/penguins-{env}-{p}-canary-verdict" for p in configs[env].pipelines}
    publishes = {(b.resource, b.role) for b in _of(configs[env], "monitor") if b.resource_type == "topic"}
    verdict_topics = {(r, role) for r, role in publishes if r.endswith(f"-{TOPIC}")}
    assert verdict_topics == {(t, "roles/pubsub.publisher") for t in topics}
    # In the stack as in the table; nobody else may publish there.
    granted = synthesized_bindings(stacks[env])
    on_verdicts = {(m, role) for m, kind, r, role, _ in granted if kind == "topic" and r in topics}
    assert on_verdicts == {(_monitor(env), "roles/pubsub.publisher")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_may_not_create_builds_or_act_as_any_account(stacks, configs, env):
    """No build runner, no actAs (on ci or anyone): with those it could submit any build as the CI account."""
    grants = _of(configs[env], "monitor")
    assert not [b for b in grants if b.resource_type == "service-account"]
    assert not [b for b in grants if "build_runner" in b.role or "cloudbuild" in b.role]
    project_roles = {b.role for b in grants if b.resource_type == "project"}
    assert project_roles <= {"roles/bigquery.jobUser", "roles/aiplatform.viewer", "roles/monitoring.metricWriter"}
    assert not [g for g in access.GRANTS if g.account == "monitor" and g.on.kind == "service-account"]
    assert not [g for g in access.GRANTS if g.account == "monitor" and g.role.startswith(access.CUSTOM)]
    # Nor in the stack: no grant of the monitor account names a custom role or a service account.
    monitor = [b for b in synthesized_bindings(stacks[env]) if b[0] == _monitor(env)]
    assert monitor and not [b for b in monitor if b[1] == "service-account" or "/roles/" in b[3]]
    # And whoever acts as the monitor gets no more: only the scheduler (its Scheduler job's build) acts as it.
    acting_as_monitor = {
        b.grant.account for b in access.bindings(configs[env]) if b.grant.on == access.acts_as("monitor")
    }
    assert acting_as_monitor == {"scheduler"}


def test_the_monitor_may_wake_it_whatever_the_environment_file_says(configs):
    """A canary may run in any environment (release.canary.percent, or `models promote --canary`), scheduled
    monitor or not: the monitor's grant on the topics and the topics themselves depend on nothing."""
    rows = [g for g in access.GRANTS if g.account == "monitor" and g.on == access.CANARY_VERDICT_TOPIC]
    assert len(rows) == 1 and not access.conditions(rows[0])
    assert all(configs[env].release.canary.percent is None for env in ("dev", "prod"))  # granted all the same
    dev = configs["dev"]
    unscheduled = dev.model_copy(
        update={
            "pipelines": {
                name: s.model_copy(update={"monitoring": s.monitoring.model_copy(update={"schedule": None})})
                for name, s in dev.pipelines.items()
            }
        }
    )
    stack = synth_stack(unscheduled)
    monitor = {(b.resource_type, b.resource, b.role) for b in _of(unscheduled, "monitor")}
    assert {
        ("topic", f"projects/my-dev-project/topics/penguins-dev-{p}-canary-verdict", "roles/pubsub.publisher")
        for p in ("diabetes", "penguins")
    } <= monitor
    names = {t["name"] for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-canary")}
    assert names == {"penguins-dev-diabetes-canary", "penguins-dev-penguins-canary"}
    topics = {t["name"] for t in resources(stack, "google_pubsub_topic") if t["name"].endswith(f"-{TOPIC}")}
    assert topics == {"penguins-dev-diabetes-canary-verdict", "penguins-dev-penguins-canary-verdict"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_itself_never_moves_the_champion(configs, env):
    """No deploy, no actAs serving, no write to the registry (the alias history): the canary build does that."""
    grants = _of(configs[env], "monitor")
    assert {b.role for b in grants if b.resource == f"penguins-{env}-registry"} == {"roles/storage.objectViewer"}
    assert not [b for b in grants if b.resource_type == "service-account"]
    assert not [b for b in grants if b.role in ("roles/aiplatform.user", "roles/aiplatform.admin")]


# --- the canary build reads the verdict and moves the champion ------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_promote_account_may_read_only_the_recorded_verdicts_of_the_data_bucket(configs, env):
    on_data = [b for b in _of(configs[env], "ci") if b.resource == f"penguins-{env}-data"]
    assert [(b.role, b.grant.only.title if b.grant.only else None) for b in on_data] == [
        ("roles/storage.objectViewer", "canary-verdicts-only")
    ]
    [verdicts] = [b.condition for b in on_data]
    objects = f"projects/_/buckets/penguins-{env}-data/objects/"
    for pipeline in sorted(configs[env].pipelines):
        assert allows(verdicts, f"{objects}{pipeline}/monitoring/canary/3-20261205T060000.json")
        assert not allows(verdicts, f"{objects}{pipeline}/monitoring/20261205T0600/report.json")
        assert not allows(verdicts, f"{objects}{pipeline}/monitoring/canary")  # the folder, not a verdict
        assert not allows(verdicts, f"{objects}{pipeline}/span-4/{pipeline}.csv")
        assert not allows(verdicts, f"{objects}{pipeline}/incoming/new.csv")
        assert not allows(verdicts, f"{objects}{pipeline}/.datacheck-lease.json")
    assert not allows(verdicts, f"{objects}other/monitoring/canary/3-20261205T060000.json")
    assert not allows(verdicts, "projects/_/buckets/elsewhere/objects/penguins/monitoring/canary/3-1.json")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_writes_its_verdicts_where_the_promote_account_reads_them(configs, env):
    """The monitor's create-only folder holds the verdicts (gs://<prefix>-data/<pipeline>/monitoring/canary/
    <version>-<start>.json, the message's `verdict` attribute); the promote account's read is within it."""
    [created] = [b.condition for b in _of(configs[env], "monitor") if b.role == "roles/storage.objectCreator"]
    [read] = [b.condition for b in _of(configs[env], "ci") if b.resource == f"penguins-{env}-data"]
    verdict = f"projects/_/buckets/penguins-{env}-data/objects/penguins/monitoring/canary/3-20261205T060000.json"
    assert allows(created, verdict) and allows(read, verdict)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_canary_build_has_what_ending_a_canary_needs(configs, env):
    """The promote builds' rights: deploy onto the endpoint (aiplatform.user, actAs serving), load the versions
    and record the move in the alias history, log the build."""
    ci = {(b.resource_type, b.resource, b.role) for b in _of(configs[env], "ci")}
    assert {
        ("project", f"my-{env}-project", "roles/aiplatform.user"),
        (
            "service-account",
            f"projects/my-{env}-project/serviceAccounts/penguins-{env}-serving@my-{env}-project.iam.gserviceaccount.com",
            "roles/iam.serviceAccountUser",
        ),
        ("bucket", f"penguins-{env}-registry", "roles/storage.objectViewer"),
        ("bucket", f"penguins-{env}-registry", "roles/storage.objectCreator"),
        ("bucket", f"penguins-{env}-build-logs", "roles/storage.objectAdmin"),
        ("bucket", f"penguins-{env}-data", "roles/storage.objectViewer"),
    } <= ci


def test_the_canary_rows_say_why_they_are_not_rehearsed():
    rows = [
        g
        for g in access.GRANTS
        if g.only == access.CANARY_VERDICTS or (g.account == "monitor" and g.on == access.CANARY_VERDICT_TOPIC)
    ]
    assert len(rows) == 2  # the verdicts' read; the monitor's publisher on the verdict topics
    assert all(g.unrehearsed and not g.flow for g in rows)
