"""The access table (infra/access.py) is what the stacks grant, exactly, and what infra/README.md shows."""

from __future__ import annotations

import re

import pytest

from contracts.engines import Dataflow, VertexTraining
from infra import access, access_readme
from infra.access_model import Binding
from tests.infra.conftest import resources, synth_stack, synthesized_bindings


def table(bindings: list[Binding]) -> set[tuple[str, str, str, str, str | None]]:
    return {(b.member, b.resource_type, b.resource, b.role, b.condition) for b in bindings}


def allows(condition: str, name: str) -> bool:
    """An object condition of the access table (infra/access_model.py: condition_expression), evaluated on the
    object `name` of its bucket: its forms only, `resource.name == "..."`, `resource.name.startsWith("...")`,
    `!`, `&&`, `||`."""
    python = re.sub(r'resource\.name\.startsWith\(("[^"]*")\)', r"name.startswith(\1)", condition)
    python = re.sub(r'resource\.name == ("[^"]*")', r"name == \1", python)
    python = python.replace("&&", "and").replace("||", "or").replace("!", "not ")
    assert "resource" not in python, condition
    return bool(eval(python, {}, {"name": name}))  # the table's own expressions, nothing else


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_stack_grants_exactly_the_table_both_ways(stacks, configs, env):
    granted, listed = synthesized_bindings(stacks[env]), table(access.bindings(configs[env]))
    assert not listed - granted, "in the table, not granted"
    assert not granted - listed, "granted, not in the table"
    assert len(access.bindings(configs[env])) == len(listed), "a grant listed twice"


def test_without_dataflow_training_or_a_schedule_their_grants_and_accounts_go(configs):
    dev = configs["dev"]
    gcp = dev.gcp.model_copy(update={"dataflow": Dataflow(), "training": VertexTraining()})
    unscheduled = {
        name: s.model_copy(
            update={
                "data": s.data.model_copy(update={"schedule": None}),
                "monitoring": s.monitoring.model_copy(update={"schedule": None}),
            }
        )
        for name, s in dev.pipelines.items()
    }
    lean = dev.model_copy(update={"gcp": gcp, "pipelines": unscheduled})
    assert len(lean.pipelines) == 2 and all(each.data.schedule is None for each in lean.each_pipeline())
    assert all(each.monitoring.schedule is None for each in lean.each_pipeline())
    stack = synth_stack(lean)
    assert synthesized_bindings(stack) == table(access.bindings(lean))
    keys = {grant.account for grant in (b.grant for b in access.bindings(lean))}
    assert "dataflow" not in keys and "dataflow" not in access.accounts(lean)
    # Nothing acts as the data check's or the monitor's account: their builds run only when started by hand.
    assert not [b for b in access.bindings(lean) if b.grant.on.name in ("datacheck", "monitor", "dataflow")]
    # Nor does anything run a build trigger: the build runner is the scheduler's alone (the monitor wakes the
    # canary build by publishing on its topic, scheduled or not).
    assert {r["role_id"] for r in resources(stack, "google_project_iam_custom_role")} == set()
    assert not [b for b in access.bindings(lean) if b.role.endswith("_build_runner")]
    names = {a["account_id"] for a in resources(stack, "google_service_account")}
    assert names == {f"penguins-dev-{key}" for key in access.accounts(lean)}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_accounts_and_custom_roles_are_the_tables(stacks, configs, env):
    names = {a["account_id"]: a["description"] for a in resources(stacks[env], "google_service_account")}
    assert names == {f"penguins-{env}-{key}": access.ACCOUNTS[key].description for key in access.accounts(configs[env])}
    roles = {r["role_id"]: r["permissions"] for r in resources(stacks[env], "google_project_iam_custom_role")}
    assert roles == {
        f"penguins_{env}_{key.replace('-', '_')}": list(access.CUSTOM_ROLES[key].permissions)
        for key in access.custom_roles(configs[env])
    }


def test_only_the_environment_that_runs_anothers_releases_touches_the_release_store(configs):
    def on_dev(env):
        return {b.resource for b in access.bindings(configs[env]) if "dev" in b.resource and env == "prod"}

    assert on_dev("dev") == set()
    assert on_dev("prod") == {
        "penguins-dev-artifacts",
        "projects/my-dev-project/locations/europe-west4/repositories/penguins-dev-images",
        "my-dev-project",
    }
    readers = {
        b.member.split("@")[0].removeprefix("serviceAccount:")
        for b in access.bindings(configs["prod"])
        if b.resource == "penguins-dev-artifacts"
    }
    assert readers == {"penguins-prod-ci", "penguins-prod-pipeline", "penguins-prod-trigger", "penguins-prod-datacheck"}
    [vertex] = [
        b for b in access.bindings(configs["prod"]) if "gcp-sa-aiplatform" in b.member and b.grant.on.store == "release"
    ]
    assert vertex.resource.endswith("/penguins-dev-images") and vertex.role == "roles/artifactregistry.reader"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_ci_writes_the_alias_history_and_the_pipeline_writes_everything_else_of_the_registry(configs, env):
    registry = f"penguins-{env}-registry"
    writers = {
        (b.member.split("@")[0].removeprefix("serviceAccount:"), b.condition)
        for b in access.bindings(configs[env])
        if b.resource == registry and b.role != "roles/storage.objectViewer"
    }
    # Every pipeline's model's history, in pipeline order: CI writes any of them, the pipeline none.
    histories = [
        f"projects/_/buckets/{registry}/objects/penguins-{env}-{p}-model/history/"
        for p in sorted(configs[env].pipelines)
    ]
    assert len(histories) == 2
    assert writers == {
        (f"penguins-{env}-ci", " || ".join(f'resource.name.startsWith("{h}")' for h in histories)),
        (f"penguins-{env}-pipeline", " && ".join(f'!resource.name.startsWith("{h}")' for h in histories)),
    }
    assert all(
        b.role == "roles/storage.objectCreator"
        for b in access.bindings(configs[env])
        if b.resource == registry and b.role != "roles/storage.objectViewer"
    )


def test_ci_may_overwrite_only_the_pointer_and_the_datacheck_delete_only_what_it_moves(configs):
    overwriting = [
        b
        for b in access.bindings(configs["dev"])
        if b.role in ("roles/storage.objectUser", "roles/storage.objectAdmin")
    ]
    by_account: dict[str, set[str | None]] = {}
    for b in overwriting:
        by_account.setdefault(b.grant.account, set()).add(b.condition)
    objects = "projects/_/buckets/penguins-dev-{}/objects/"
    assert by_account["ci"] == {
        f'resource.name.startsWith("{objects.format("artifacts")}templates/current/")',
        None,
    }
    assert {b.resource for b in overwriting if b.grant.account == "ci" and b.condition is None} == {
        "penguins-dev-build-logs"
    }
    data = objects.format("data")
    pipelines = sorted(configs["dev"].pipelines)
    assert pipelines == ["diabetes", "penguins"]
    # Each pipeline's data area, joined into one condition per grant.
    assert by_account["datacheck"] == {
        " || ".join(f'resource.name.startsWith("{data}{p}/incoming/")' for p in pipelines),
        " || ".join(f'resource.name.startsWith("{data}{p}/batches/")' for p in pipelines),
        " || ".join(f'resource.name == "{data}{p}/.datacheck-lease.json"' for p in pipelines),
        None,  # the build-logs bucket
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_datacheck_grants_cover_every_pipelines_data_area_and_nothing_else(configs, env):
    """What the datacheck account may overwrite or delete in the data bucket: each pipeline's incoming files,
    unfrozen batches and lease, and no other object (a span, another folder, a pipeline the environment has not)."""
    conditions = {
        b.grant.only.title: b.condition
        for b in access.bindings(configs[env])
        if b.grant.account == "datacheck" and b.resource == f"penguins-{env}-data" and b.grant.only is not None
    }
    assert set(conditions) == {"incoming-only", "batches-only", "lease-only"}
    objects = f"projects/_/buckets/penguins-{env}-data/objects/"
    for pipeline in sorted(configs[env].pipelines):
        assert allows(conditions["incoming-only"], f"{objects}{pipeline}/incoming/new.csv")
        assert allows(conditions["batches-only"], f"{objects}{pipeline}/batches/b-1/data.csv")
        assert allows(conditions["lease-only"], f"{objects}{pipeline}/.datacheck-lease.json")
        for condition in conditions.values():
            assert not allows(condition, f"{objects}{pipeline}/span-0/data.csv")
            assert not allows(condition, f"{objects}{pipeline}/.datacheck-lease.json.bak")
            assert not allows(condition, f"{objects}{pipeline}-other/incoming/new.csv")
    for condition in conditions.values():
        assert not allows(condition, f"{objects}other/incoming/new.csv")
        assert not allows(condition, f"{objects}other/batches/b-1/data.csv")
        assert not allows(condition, f"{objects}other/.datacheck-lease.json")
        assert not allows(condition, "projects/_/buckets/elsewhere/objects/penguins/incoming/new.csv")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_pipelines_registry_write_excludes_every_models_history(configs, env):
    """The pipeline account registers each pipeline's model copies and never writes any model's alias history;
    CI writes each model's history and nothing else of the registry."""
    [pipeline] = [
        b.condition
        for b in access.bindings(configs[env])
        if b.grant.account == "pipeline" and b.resource == f"penguins-{env}-registry" and b.grant.only is not None
    ]
    [ci] = [
        b.condition
        for b in access.bindings(configs[env])
        if b.grant.account == "ci" and b.resource == f"penguins-{env}-registry" and b.grant.only is not None
    ]
    registry = f"projects/_/buckets/penguins-{env}-registry/objects/"
    for each in sorted(configs[env].pipelines):
        model = f"{registry}penguins-{env}-{each}-model"
        assert allows(pipeline, f"{model}/abc123/saved_model.pb") and not allows(ci, f"{model}/abc123/saved_model.pb")
        assert not allows(pipeline, f"{model}/history/0001.json") and allows(ci, f"{model}/history/0001.json")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_grants_on_a_pipelines_own_topics_and_function_are_made_on_each_pipelines(stacks, configs, env):
    """The pipeline publishes to each model-registered topic, the scheduler to each trigger topic, the Pub/Sub
    agent to each dead-letter topic, the monitor to each canary-verdict topic, the trigger account invokes each
    function (and the monitor, where a pipeline retrains on drift, publishes to each trigger topic): one grant
    per pipeline, on that pipeline's resource, in the table and in the stack. The request logs are one dataset,
    not a resource per pipeline (test_monitor.py)."""
    project, pipelines = f"my-{env}-project", sorted(configs[env].pipelines)
    assert pipelines == ["diabetes", "penguins"]

    def email(key: str) -> str:
        return f"serviceAccount:penguins-{env}-{key}@{project}.iam.gserviceaccount.com"

    def topics(kind: str) -> set[str]:
        return {f"projects/{project}/topics/penguins-{env}-{p}-{kind}" for p in pipelines}

    agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    services = {f"projects/{project}/locations/europe-west4/services/penguins-{env}-{p}-trigger" for p in pipelines}
    expected = {
        (email("pipeline"), "topic", "roles/pubsub.publisher"): topics("model-registered"),
        (email("scheduler"), "topic", "roles/pubsub.publisher"): topics("trigger"),
        (agent, "topic", "roles/pubsub.publisher"): topics("trigger-dead-letter"),
        (email("monitor"), "topic", "roles/pubsub.publisher"): topics("canary-verdict"),
        (email("trigger"), "run-service", "roles/run.invoker"): services,
    }
    if env == "dev":  # dev's penguins retrains on a flagged window: the monitor may publish on the trigger topics
        expected[(email("monitor"), "topic", "roles/pubsub.publisher")] |= topics("trigger")
    granted = synthesized_bindings(stacks[env])
    on_pipelines = {(m, t, r, role, c) for m, t, r, role, c in granted if t in ("topic", "run-service")}
    assert on_pipelines == {(m, t, r, role, None) for (m, t, role), rs in expected.items() for r in rs}
    per_pipeline = [b for b in access.bindings(configs[env]) if b.grant.on.per_pipeline]
    assert len(per_pipeline) == sum(len(rs) for rs in expected.values())
    for b in per_pipeline:
        assert b.resource.endswith(f"/penguins-{env}-{b.pipeline}-{b.grant.on.name}"), b
        assert b.resource in expected[(b.member, b.resource_type, b.role)]


def test_every_row_names_a_rehearsed_flow_or_why_none(configs):
    for grant in access.GRANTS:
        assert (grant.flow in access.FLOWS) != bool(grant.unrehearsed), grant
        assert grant.account in access.ACCOUNTS or grant.account in access.AGENTS, grant
        assert grant.why, grant


def test_the_readme_shows_the_table():
    assert access_readme.main(["--check"]) == 0, "run: python -m infra.access_readme --write"


def test_a_stale_readme_is_caught(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(access_readme.README.read_text().replace("| `serving` |", "| `served` |"))
    monkeypatch.setattr(access_readme, "README", stale)
    assert access_readme.main(["--check"]) == 1
    assert "the access table is stale" in capsys.readouterr().err
