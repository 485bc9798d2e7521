"""The access table (infra/access.py) is what the stacks grant, exactly, and what infra/README.md shows."""

from __future__ import annotations

import pytest

from contracts.engines import Dataflow, VertexTraining
from infra import access, access_readme
from infra.access_model import Binding
from tests.infra.conftest import resources, synth_stack, synthesized_bindings


def table(bindings: list[Binding]) -> set[tuple[str, str, str, str, str | None]]:
    return {(b.member, b.resource_type, b.resource, b.role, b.condition) for b in bindings}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_stack_grants_exactly_the_table_both_ways(stacks, configs, env):
    granted, listed = synthesized_bindings(stacks[env]), table(access.bindings(configs[env]))
    assert not listed - granted, "in the table, not granted"
    assert not granted - listed, "granted, not in the table"
    assert len(access.bindings(configs[env])) == len(listed), "a grant listed twice"


def test_without_dataflow_training_or_a_schedule_their_grants_and_accounts_go(configs):
    dev = configs["dev"]
    gcp = dev.gcp.model_copy(update={"dataflow": Dataflow(), "training": VertexTraining()})
    lean = dev.model_copy(update={"gcp": gcp}).with_settings(data=dev.data.model_copy(update={"schedule": None}))
    stack = synth_stack(lean)
    assert synthesized_bindings(stack) == table(access.bindings(lean))
    keys = {grant.account for grant in (b.grant for b in access.bindings(lean))}
    assert "dataflow" not in keys and "dataflow" not in access.accounts(lean)
    assert not [b for b in access.bindings(lean) if b.grant.on.name in ("datacheck", "dataflow")]
    assert {r["role_id"] for r in resources(stack, "google_project_iam_custom_role")} == set()
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
    [vertex] = [b for b in access.bindings(configs["prod"]) if "gcp-sa-aiplatform" in b.member]
    assert vertex.resource.endswith("/penguins-dev-images") and vertex.role == "roles/artifactregistry.reader"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_ci_writes_the_alias_history_and_the_pipeline_writes_everything_else_of_the_registry(configs, env):
    registry = f"penguins-{env}-registry"
    writers = {
        (b.member.split("@")[0].removeprefix("serviceAccount:"), b.condition)
        for b in access.bindings(configs[env])
        if b.resource == registry and b.role != "roles/storage.objectViewer"
    }
    history = f"projects/_/buckets/{registry}/objects/penguins-{env}-penguins-model/history/"
    assert writers == {
        (f"penguins-{env}-ci", f'resource.name.startsWith("{history}")'),
        (f"penguins-{env}-pipeline", f'!resource.name.startsWith("{history}")'),
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
    assert by_account["datacheck"] == {
        f'resource.name.startsWith("{data}penguins/incoming/")',
        f'resource.name.startsWith("{data}penguins/batches/")',
        f'resource.name == "{data}penguins/.datacheck-lease.json"',
        None,  # the build-logs bucket
    }


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
