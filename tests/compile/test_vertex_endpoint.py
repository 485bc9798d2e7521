"""Promotion on Vertex moves the endpoint with the alias: the exact deploy, traffic-split and undeploy requests
the EndpointServiceClient sends (anonymous credentials, a stand-in under its gRPC transport), and what a failed
step leaves behind."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions

from components.registry.promotion import move_champion, rollback
from components.registry.vertex_history import AliasHistory
from contracts.registry import CHAMPION, AliasMove, Lineage, RegistryError
from tests.compile.vertex_fakes import trained_model

LINEAGE = Lineage(
    pipeline_run_id="penguins-dev-ci-0123456789abcdef",
    image="europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "0" * 64,
)
MODEL = "projects/my-dev-project/locations/europe-west4/models/penguins-dev-model"


def no_smoke(version):
    """The smoke test is tested elsewhere (tests/e2e): here it passes."""


def registered(vertex, *names):
    registry, _, _ = vertex
    for name in names:
        registry.register(trained_model(registry._storage.client, name), LINEAGE, blessed=True)
    return registry


def promote(registry, version, **kwargs):
    return move_champion(registry, version, by="ci", reason="blessed", smoke=no_smoke, **kwargs)


def test_the_first_promotion_deploys_with_all_the_traffic(vertex):
    registry = registered(vertex, "one")
    _, _, endpoint = vertex
    move = promote(registry, "1")
    (deploy,) = endpoint.of("deploy")
    assert deploy.endpoint == registry.target.endpoint
    assert registry.target.endpoint.startswith("projects/my-dev-project/locations/europe-west4/endpoints/")
    deployed = deploy.deployed_model
    assert deployed.model == f"{MODEL}@1" and deployed.display_name == "penguins-dev-model-v1"
    resources = deployed.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-standard-2"
    assert (resources.min_replica_count, resources.max_replica_count) == (1, 1)
    assert deployed.service_account == "penguins-dev-serving@my-dev-project.iam.gserviceaccount.com"
    assert dict(deploy.traffic_split) == {"0": 100}
    assert endpoint.split() == {"1000": 100}
    assert move.serving == "deployed version 1 (deployed model 1000) at 100%"
    assert registry.history()[-1].serving == move.serving and registry.alias_version(CHAMPION) == "1"


def test_a_promotion_keeps_the_previous_champion_at_zero_and_undeploys_older_ones(vertex):
    registry = registered(vertex, "one", "two", "three")
    _, _, endpoint = vertex
    promote(registry, "1")
    promote(registry, "2")
    assert dict(endpoint.of("deploy")[1].traffic_split) == {"0": 100, "1000": 0}
    move = promote(registry, "3")
    assert dict(endpoint.of("deploy")[2].traffic_split) == {"0": 100, "1000": 0, "1001": 0}
    # Version 1 is neither the champion nor the one before it: undeployed, after the alias moved.
    (undeploy,) = endpoint.of("undeploy")
    assert undeploy.deployed_model_id == "1000" and dict(undeploy.traffic_split) == {"1002": 100, "1001": 0}
    assert endpoint.versions() == {"1001": "2", "1002": "3"} and endpoint.split() == {"1002": 100, "1001": 0}
    assert move.serving.endswith("version 2 kept deployed at 0%; undeployed version(s) 1")


def test_a_rollback_to_the_kept_version_is_only_a_traffic_switch(vertex):
    registry = registered(vertex, "one", "two")
    _, _, endpoint = vertex
    promote(registry, "1")
    promote(registry, "2")
    deploys = len(endpoint.of("deploy"))
    move = rollback(registry, to=None, by="alice", reason="regression", smoke=no_smoke)
    assert len(endpoint.of("deploy")) == deploys and not endpoint.of("undeploy")
    (update,) = endpoint.of("update")
    assert update.endpoint.name == registry.target.endpoint and list(update.update_mask.paths) == ["traffic_split"]
    assert dict(update.endpoint.traffic_split) == {"1000": 100, "1001": 0}
    assert (
        move.serving
        == "traffic switch to already deployed version 1 (deployed model 1000) at 100%; version 2 kept deployed at 0%"
    )
    assert registry.alias_version(CHAMPION) == "1"


def test_a_rollback_to_an_undeployed_version_deploys_it(vertex):
    registry = registered(vertex, "one", "two", "three")
    _, _, endpoint = vertex
    for version in ("1", "2", "3"):
        promote(registry, version)
    move = rollback(registry, to="1", by="alice", reason="back to the first", smoke=no_smoke)
    assert endpoint.of("deploy")[-1].deployed_model.model == f"{MODEL}@1"
    assert move.serving.startswith("deployed version 1 (deployed model 1003) at 100%; version 3 kept")
    assert endpoint.versions() == {"1002": "3", "1003": "1"}


def test_a_failed_deploy_leaves_the_alias_the_endpoint_and_the_history_as_they_were(vertex):
    registry = registered(vertex, "one", "two")
    _, models, endpoint = vertex
    promote(registry, "1")
    before = (endpoint.split(), endpoint.versions())
    endpoint.fail_deploy = "quota exceeded for n1-standard-2"
    with pytest.raises(RegistryError, match=r"serving version 2 failed: .*quota exceeded"):
        promote(registry, "2")
    assert registry.alias_version(CHAMPION) == "1" and (endpoint.split(), endpoint.versions()) == before
    assert [m.to_version for m in registry.history()] == ["1"]
    assert len([kind for kind, _ in models.requests if kind == "merge"]) == 1
    # The failure is on record (aborted), and the next move takes the next number.
    history = registry._history()
    assert [(e.sequence, e.state) for e in history.entries()] == [(1, "committed"), (2, "aborted")]
    endpoint.fail_deploy = None
    promote(registry, "2")
    assert [(e.sequence, e.state) for e in history.entries()][-1] == (3, "committed")


def test_a_failed_alias_move_puts_the_traffic_back(vertex):
    registry = registered(vertex, "one", "two")
    _, models, endpoint = vertex
    promote(registry, "1")
    before = (endpoint.split(), endpoint.versions())
    models.fail_merge = exceptions.ServiceUnavailable("model service unavailable")
    with pytest.raises(RegistryError, match=r"moving it to 2 failed .* the endpoint's traffic is back as it was"):
        promote(registry, "2")
    assert registry.alias_version(CHAMPION) == "1" and (endpoint.split(), endpoint.versions()) == before
    assert [m.to_version for m in registry.history()] == ["1"]
    assert registry._history().entries()[-1].state == "aborted"


def test_a_missing_endpoint_is_named_and_nothing_moves(vertex):
    registry = registered(vertex, "one")
    _, _, endpoint = vertex
    registry.target = registry.target.model_copy(update={"endpoint": registry.target.endpoint + "0"})
    with pytest.raises(RegistryError, match=r"endpoint .*/endpoints/\d+0 does not exist: create it with infra"):
        promote(registry, "1")
    assert registry.alias_version(CHAMPION) is None and not endpoint.of("deploy") and registry.history() == []


def _pending(registry, at):
    move = AliasMove(
        alias=CHAMPION, from_version="1", to_version="2", at=at.isoformat(), by="x", reason="r", kind="promote"
    )
    registry._history().claim(move, "1")


def test_a_move_in_progress_blocks_a_second_mover(vertex):
    registry = registered(vertex, "one", "two")
    _, _, endpoint = vertex
    promote(registry, "1")
    _pending(registry, datetime.now(timezone.utc))
    deploys = len(endpoint.of("deploy"))
    with pytest.raises(RegistryError, match="is in progress"):
        promote(registry, "2")
    assert len(endpoint.of("deploy")) == deploys and registry.alias_version(CHAMPION) == "1"


def test_a_stale_pending_entry_is_settled_by_the_next_mover(vertex):
    registry = registered(vertex, "one", "two")
    promote(registry, "1")
    _pending(registry, datetime.now(timezone.utc) - timedelta(days=1))
    promote(registry, "2")
    entries = registry._history().entries()
    assert [(e.sequence, e.state) for e in entries] == [(1, "committed"), (2, "aborted"), (3, "committed")]
    assert [m.to_version for m in registry.history()] == ["1", "2"]


def test_history_written_before_states_still_reads(gcs):
    bucket = gcs.bucket("penguins-dev-artifacts")
    move = AliasMove(
        alias=CHAMPION,
        from_version=None,
        to_version="1",
        at="2026-01-01T00:00:00+00:00",
        by="ci",
        reason="r",
        kind="promote",
    )
    bucket.blob("old-history/00000001.json").upload_from_string(move.model_dump_json())
    assert AliasHistory(bucket, "old-history", timedelta(hours=1)).committed() == [move]


def test_every_history_object_is_written_once(vertex, gcs):
    registry = registered(vertex, "one")
    promote(registry, "1")
    history = registry._history()
    names = sorted(
        b.name.rsplit("/", 1)[-1] for b in gcs.bucket("penguins-dev-artifacts").list_blobs(prefix=history.prefix)
    )
    assert names == ["00000001.json", "00000001.outcome.json"]
    # A mover that comes back after its claim was settled cannot write a second outcome.
    with pytest.raises(RegistryError, match="recorded first"):
        history.finish(history.entries()[0], "aborted", error="late")
    assert [m.to_version for m in registry.history()] == ["1"]
