"""Prod promotion through an approval-gated Cloud Build build, at the request level: the real google-cloud-build
client (REST transport, anonymous credentials) sends its HTTP requests to a stand-in session that records them
and answers as Cloud Build would. The registry is a local one standing in for Vertex (tested on its own in
test_vertex_registry.py): what is under test is the request, the decision and the recorded approval."""

import json

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud.devtools.cloudbuild_v1 import ApprovalResult, CloudBuildClient

from ci.routing import route
from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, registry_target
from release import approvals, models_cli
from release.promotion.journal import committed
from release.promotion.local_mover import LocalMover
from tests import promotion_helpers

PROD = load_environment("prod", "penguins")
TRIGGER = "projects/my-prod-project/locations/europe-west4/triggers/penguins-prod-penguins-promote"
BUILDS = "projects/my-prod-project/locations/europe-west4/builds"
HOST = "https://cloudbuild.googleapis.com/v1"


class FakeCloudBuild:
    """Answers the REST calls the client makes; `build` is what Cloud Build holds for build b-1."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.status = 200
        self.build = {
            "id": "b-1",
            "buildTriggerId": "trigger-id-1",
            "status": "WORKING",
            "substitutions": {"_ACTION": "promote", "_VERSION": "2", "_BY": "bob", "_REASON": "weekly"},
            "approval": {
                "state": "APPROVED",
                "result": {"approverAccount": "alice@example.com", "decision": "APPROVED", "comment": "ok"},
            },
        }

    def _answer(self, method: str, url: str) -> dict:
        if url == f"{HOST}/{TRIGGER}:run":
            metadata = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
            return {"name": "operations/run-1", "metadata": {"@type": metadata, "build": {"id": "b-1"}}}
        if url == f"{HOST}/{BUILDS}/b-1:approve":
            return {"name": "operations/approve-1"}
        if url == f"{HOST}/{BUILDS}/b-1":
            return self.build
        if url == f"{HOST}/{TRIGGER}":
            return {"id": "trigger-id-1", "name": "penguins-prod-penguins-promote"}
        if url == f"{HOST}/{TRIGGER.replace('-penguins-promote', '-diabetes-promote')}":
            return {"id": "trigger-id-2", "name": "penguins-prod-diabetes-promote"}
        raise AssertionError(f"unexpected {method} {url}")

    def request(self, method: str, url: str, data=None, **_):
        self.requests.append((method, url.partition("?")[0], json.loads(data) if data else {}))
        response = requests.Response()
        response.status_code = self.status
        body = self._answer(method, url.partition("?")[0]) if self.status == 200 else {"error": {"message": "denied"}}
        response._content = json.dumps(body).encode()
        response.request = requests.Request(method, url).prepare()
        return response

    def __getattr__(self, method: str):
        if method in {"get", "post"}:
            return lambda url, **kwargs: self.request(method.upper(), url, **kwargs)
        raise AttributeError(method)


@pytest.fixture
def cloud_build(monkeypatch):
    from google.cloud.devtools.cloudbuild_v1.services.cloud_build.transports import rest

    fake = FakeCloudBuild()
    # The transport's HTTP session is made at construction (its methods are keyed by it): hand it the fake then.
    monkeypatch.setattr(rest, "AuthorizedSession", lambda credentials, **_: fake)
    client = CloudBuildClient(credentials=AnonymousCredentials(), transport="rest")
    monkeypatch.setattr(approvals, "client", lambda credentials=None: client)
    return fake


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Two blessed versions in a local registry, opened in place of prod's Vertex one; model tests pass."""
    local = open_registry(registry_target(load_environment("local", "penguins"), tmp_path))
    for name in ("one", "two"):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text(name)
        local.register(str(folder), Lineage(pipeline_run_id=f"run-{name}"), blessed=True)
    monkeypatch.setattr("components.registry.open_registry", lambda target, credentials=None: local)
    # `models promote` runs the model tests in a child process: here they pass.
    monkeypatch.setattr(
        "release.model_tests.process.SuiteProcess", lambda pipeline, project=None: promotion_helpers.passes
    )
    return local


def history(registry):
    return committed(LocalMover(registry).entries())


def test_promote_in_prod_starts_the_promote_trigger_with_the_move_and_moves_nothing(cloud_build, registry, capsys):
    assert (
        models_cli.main(
            ["promote", "2", "--env", "prod", "--pipeline", "penguins", "--by", "bob", "--reason", "weekly"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "b-1" in out and "approve b-1 --env prod" in out
    ((method, url, body),) = cloud_build.requests
    assert (method, url) == ("POST", f"{HOST}/{TRIGGER}:run")
    substitutions = {"_ACTION": "promote", "_VERSION": "2", "_BY": "bob", "_REASON": "weekly"}
    # The trigger is in the URL (its regional route); the body is the source with the move.
    assert body == {
        "source": {"projectId": "my-prod-project", "substitutions": substitutions},
    }
    # Exactly what the trigger declares for the request to set (ci/routing.py).
    assert set(substitutions) == set(route("promote").requested)
    assert registry.alias_version(CHAMPION) is None and history(registry) == []


def test_a_rollback_request_names_the_concrete_version_the_approver_sees(cloud_build, registry):
    from release.promotion.moves import promote

    for version in ("1", "2"):
        promote(LocalMover(registry), version, promotion_helpers.gate(registry), by="t", reason="t", approved_by="t")
    assert models_cli.main(["rollback", "--env", "prod", "--pipeline", "penguins", "--reason", "regression"]) == 0
    ((_, _, body),) = cloud_build.requests
    assert {k: body["source"]["substitutions"][k] for k in ("_ACTION", "_VERSION", "_REASON")} == {
        "_ACTION": "rollback",
        "_VERSION": "1",
        "_REASON": "regression",
    }
    assert registry.alias_version(CHAMPION) == "2"


@pytest.mark.parametrize(
    ("flags", "decision", "comment"), [([], "APPROVED", "ok by me"), (["--reject"], "REJECTED", "no")]
)
def test_approve_and_reject_send_the_decision_cloud_build_records(cloud_build, flags, decision, comment, capsys):
    assert models_cli.main(["approve", "b-1", "--env", "prod", "--reason", comment, *flags]) == 0
    ((method, url, body),) = cloud_build.requests
    assert (method, url) == ("POST", f"{HOST}/{BUILDS}/b-1:approve")
    # The REST transport sends enums as their numbers.
    number = ApprovalResult.Decision[decision].value
    assert body == {"approvalResult": {"decision": number, "comment": comment}}
    assert decision.lower() in capsys.readouterr().out


def test_the_approved_build_moves_the_champion_recording_the_approver_cloud_build_recorded(cloud_build, registry):
    assert models_cli.main(["promote", "2", "--env", "prod", "--pipeline", "penguins", "--build", "b-1"]) == 0
    called = [(method, url) for method, url, _ in cloud_build.requests]
    assert called == [("GET", f"{HOST}/{BUILDS}/b-1"), ("GET", f"{HOST}/{TRIGGER}")]
    assert registry.alias_version(CHAMPION) == "2"
    (move,) = history(registry)
    assert (move.to_version, move.by, move.reason, move.approved_by) == ("2", "bob", "weekly", "alice@example.com")


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        ({"approval": {"state": "PENDING"}}, ["promote", "2"], "no recorded approval (state PENDING)"),
        ({"approval": {"state": "REJECTED"}}, ["promote", "2"], "no recorded approval"),
        ({"status": "SUCCESS"}, ["promote", "2"], "approval is spent"),
        ({"buildTriggerId": "another"}, ["promote", "2"], "not started by the penguins-prod-penguins-promote trigger"),
        ({}, ["promote", "1"], "approved promote 2, not promote 1"),
        ({}, ["rollback", "2"], "approved promote 2, not rollback 2"),
    ],
)
def test_the_step_refuses_a_build_that_did_not_approve_this_move(cloud_build, registry, change, args, message, capsys):
    cloud_build.build.update(change)
    assert models_cli.main([*args, "--env", "prod", "--pipeline", "penguins", "--approved-build", "b-1"]) == 2
    assert message in capsys.readouterr().err
    assert registry.alias_version(CHAMPION) is None and history(registry) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["promote", "2", "--env", "prod", "--pipeline", "penguins", "--approve", "carol"],
            "approvals here are Cloud Build's",
        ),
        (["approve", "b-1", "--env", "local"], "local approvals are `promote --approve NAME`"),
        (["approve", "../b-1", "--env", "prod", "--pipeline", "penguins"], "no slashes"),
        (["promote", "9", "--env", "prod", "--pipeline", "penguins"], "version 9"),
        (["rollback", "--env", "prod", "--pipeline", "penguins"], "no champion"),
        (["rollback", "1", "--to", "2", "--env", "prod", "--pipeline", "penguins"], "disagree"),
    ],
)
def test_bad_input_exits_2_and_asks_cloud_build_nothing(cloud_build, registry, args, message, capsys):
    assert models_cli.main(args) == 2
    assert message in capsys.readouterr().err
    assert cloud_build.requests == []


def test_a_refused_call_names_cloud_build_and_changes_nothing(cloud_build, registry, capsys):
    cloud_build.status = 403
    assert (
        models_cli.main(["promote", "2", "--env", "prod", "--pipeline", "penguins"]) == 4
    )  # Refused by Google Cloud (release/cloud_errors.py)
    err = capsys.readouterr().err
    assert "Cloud Build refused to run penguins-prod-penguins-promote" in err and "denied" in err


def test_the_autopromote_build_moves_as_itself_and_asks_cloud_build_nothing(cloud_build, registry, capsys):
    """What the Pub/Sub-started build runs (ci/cloudbuild/promote.yaml, _ACTION=auto-promote): no approval to
    read back; the build is recorded as the mover, and a second delivery of the announcement changes nothing."""
    assert models_cli.main(["auto-promote", "2", "--env", "dev", "--pipeline", "penguins", "--build", "b-9"]) == 0
    assert models_cli.main(["auto-promote", "2", "--env", "dev", "--pipeline", "penguins", "--build", "b-10"]) == 0
    assert "already champion: nothing changed" in capsys.readouterr().out
    assert cloud_build.requests == []
    (move,) = history(registry)
    assert (move.to_version, move.by, move.approved_by) == ("2", "cloudbuild:b-9", None)


def test_a_build_approved_for_one_pipeline_cannot_move_anothers_champion(cloud_build, registry, capsys):
    """b-1 was started by penguins' promote trigger: diabetes' step (its own trigger) refuses it."""
    assert models_cli.main(["promote", "2", "--env", "prod", "--pipeline", "diabetes", "--build", "b-1"]) == 2
    assert "not started by the penguins-prod-diabetes-promote trigger" in capsys.readouterr().err
    assert registry.alias_version(CHAMPION) is None


def test_a_promotion_request_starts_its_pipelines_own_promote_trigger(cloud_build, registry):
    cloud_build.build["buildTriggerId"] = "trigger-id-2"
    diabetes = TRIGGER.replace("-penguins-promote", "-diabetes-promote")
    answer = cloud_build._answer

    def _answer(method, url):
        if url == f"{HOST}/{diabetes}:run":
            return answer(method, f"{HOST}/{TRIGGER}:run")
        return answer(method, url)

    cloud_build._answer = _answer
    assert models_cli.main(["promote", "2", "--env", "prod", "--pipeline", "diabetes", "--reason", "weekly"]) == 0
    [(method, url, body)] = cloud_build.requests
    assert (method, url) == ("POST", f"{HOST}/{diabetes}:run")
    assert body["source"]["substitutions"]["_VERSION"] == "2"
