"""The stand-in answers as Google does: discovery-checked requests, IAM refusals in Google's words, preconditions,
lifecycle rules, long-running operations and approval-gated builds."""

from __future__ import annotations

import threading

import pytest
from google.api_core import exceptions
from google.cloud import storage

from rehearsal.standin.iam import Target, evaluate
from tests.rehearsal.conftest import READER, WRITER, Stand


def _client(stand: Stand, email: str, monkeypatch: pytest.MonkeyPatch) -> storage.Client:
    host = f"127.0.0.1:{stand.server.port}/identity/{email}"
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    import google.auth.compute_engine._metadata as metadata

    monkeypatch.setattr(metadata, "_GCE_METADATA_HOST", host)
    return storage.Client(project="p", client_options={"api_endpoint": stand.url("storage.googleapis.com")})


def test_a_misspelt_field_is_refused_by_the_discovery_document(stand: Stand) -> None:
    body = {"approvalResult": {"decison": "APPROVED"}}
    answer = stand.call(
        "POST", "cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/builds/b:approve", json=body
    )
    assert answer.status_code == 400
    assert 'Unknown name "decison"' in answer.json()["error"]["message"]
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_a_wrong_type_and_a_wrong_path_are_refused(stand: Stand) -> None:
    wrong_type = stand.call(
        "POST",
        "cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/triggers/tid:run",
        json={"source": {"substitutions": ["not", "a", "map"]}},
    )
    assert wrong_type.status_code == 400
    wrong_path = stand.call("GET", "cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/bilds/x")
    assert wrong_path.status_code == 404
    unknown_query = stand.call("GET", "storage.googleapis.com/storage/v1/b/data/o", params={"prefx": "a"})
    assert unknown_query.status_code == 400


def test_a_missing_permission_is_refused_with_googles_error_shape(
    stand: Stand, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = stand.call("GET", "storage.googleapis.com/storage/v1/b/data/o/a.csv", email=READER)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["message"] == (
        f"{READER} does not have storage.objects.get access to the Google Cloud Storage object. "
        "Permission 'storage.objects.get' denied on resource (or it may not exist)."
    )
    assert error["errors"][0]["reason"] == "forbidden"
    vertex = stand.call(
        "POST",
        "europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/pipelineJobs",
        email=READER,
        json={"displayName": "x"},
    )
    assert vertex.status_code == 403
    assert vertex.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "Permission 'aiplatform.pipelineJobs.create' denied on resource" in vertex.json()["error"]["message"]
    [entry] = [e for e in stand.server.log.entries if e.status == 403 and e.api.endswith("aiplatform.googleapis.com")]
    assert entry.checks[0].permission == "aiplatform.pipelineJobs.create" and not entry.checks[0].allowed


def test_a_conditional_grant_allows_only_inside_its_prefix(stand: Stand, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(stand, READER, monkeypatch)
    client.bucket("shared").blob("registry/m/1.json").upload_from_string(b"{}", if_generation_match=0)
    with pytest.raises(exceptions.Forbidden, match=r"storage\.objects\.create"):
        client.bucket("shared").blob("elsewhere/1.json").upload_from_string(b"{}", if_generation_match=0)
    inside = Target("projects/_/buckets/shared/objects/registry/x", "storage.googleapis.com/Object")
    outside = Target("projects/_/buckets/shared/objects/registryx", "storage.googleapis.com/Object")
    condition = 'resource.name.startsWith("projects/_/buckets/shared/objects/registry/")'
    assert evaluate(condition, inside) and not evaluate(condition, outside)
    assert evaluate(f'{condition} || resource.name == "projects/_/buckets/shared/objects/registryx"', outside)
    used = {g.source for g in stand.policy.used}
    assert "t:prefix" in used


def test_generation_preconditions_answer_412(stand: Stand, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _client(stand, WRITER, monkeypatch).bucket("data").blob("pointer.json")
    blob.upload_from_string(b"1", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"2", if_generation_match=0)
    blob.reload()
    first = blob.generation
    blob.upload_from_string(b"2", if_generation_match=first)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"3", if_generation_match=first)
    assert blob.download_as_bytes() == b"2"


def test_lifecycle_deletes_what_its_rules_say_and_only_that(stand: Stand, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = _client(stand, WRITER, monkeypatch).bucket("data")
    bucket.blob("old.csv").upload_from_string(b"old")
    stand.storage.clock.advance(20)
    bucket.blob("young.csv").upload_from_string(b"young")
    stand.storage.clock.advance(11)
    deleted = stand.storage.apply_lifecycle()
    assert [d.split("#")[0] for d in deleted] == ["gs://data/old.csv"]
    assert stand.storage.read("data", "old.csv") is None and stand.storage.read("data", "young.csv") == b"young"
    assert len(stand.storage.buckets["data"].noncurrent) == 1  # versioned: the deleted live version is noncurrent
    stand.storage.clock.advance(8)
    stand.storage.apply_lifecycle()
    assert stand.storage.buckets["data"].noncurrent == []


def test_a_long_running_operation_completes_and_applies_its_work(stand: Stand) -> None:
    parent = "europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4"
    stand.storage.put("data", "model/saved_model.pb", b"pb")
    upload = stand.call(
        "POST",
        f"{parent}/models:upload",
        json={"modelId": "m", "model": {"displayName": "m", "artifactUri": "gs://data/model"}},
    )
    assert upload.status_code == 200 and upload.json()["done"] is False
    assert stand.call("GET", f"{parent}/models/m").status_code == 404  # nothing before it completes
    operation = upload.json()["name"]
    done = stand.call("GET", f"europe-west4-aiplatform.googleapis.com/v1/{operation}")
    assert done.json()["done"] is True
    assert done.json()["response"]["modelVersionId"] == "1"
    model = stand.call("GET", f"{parent}/models/m@default").json()
    assert model["name"] == "projects/123/locations/europe-west4/models/m" and model["versionId"] == "1"


def test_a_build_waits_for_its_approval(stand: Stand) -> None:
    ran = threading.Event()

    def executor(build):
        ran.set()
        stand.cloudbuild.finish(build, "SUCCESS")

    stand.cloudbuild.executor = executor
    started = stand.call(
        "POST",
        "cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/triggers/gated:run",
        json={"source": {"substitutions": {"_X": "1"}}},
    )
    assert started.status_code == 200
    build = started.json()["metadata"]["build"]
    assert build["status"] == "PENDING" and build["approval"]["state"] == "PENDING"
    assert not ran.is_set()
    name = f"cloudbuild.googleapis.com/v1/{build['name']}"
    refused = stand.call("POST", f"{name}:approve", email=WRITER, json={"approvalResult": {"decision": "APPROVED"}})
    assert refused.status_code == 403  # the editor may run builds, not approve them
    approved = stand.call("POST", f"{name}:approve", email=READER, json={"approvalResult": {"decision": 1}})
    assert approved.status_code == 200
    assert ran.wait(10)
    final = stand.call("GET", name, email=READER).json()
    assert final["status"] == "SUCCESS"
    assert final["approval"]["result"]["approverAccount"] == READER


def test_running_a_trigger_needs_acting_as_its_account(stand: Stand) -> None:
    stand.policy.grants = [g for g in stand.policy.grants if g.source != "t:actas"]
    answer = stand.call(
        "POST", "cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/triggers/gated:run", json={}
    )
    assert answer.status_code == 403
    assert stand.server.log.entries[-1].checks[-1].permission == "iam.serviceAccounts.actAs"
