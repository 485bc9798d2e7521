"""Moves on Vertex at the request level: the real Vertex clients (anonymous credentials) over stand-ins under
their transports, the journal on the GCS API emulator. What each move sends (deploy at 0%, then the traffic
switch, then the alias), what a failed or timed-out deploy leaves, the lease of a move in progress, and an
error or a crash at every request boundary of a move: afterwards the history, the alias and the endpoint's
traffic agree."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials

from components.registry.vertex_store import VertexRegistry
from contracts.config import load_environment
from contracts.registry import CHAMPION, AliasMove, Lineage, RegistryError, registry_target
from release.model_tests.records import outcomes_for
from release.promotion.journal import committed
from release.promotion.moves import ModelTestGate, promote, repair, rollback
from release.promotion.vertex_endpoint import DeployUnresolvedError, VertexEndpoint
from release.promotion.vertex_journal import LEASE_SECONDS, MoveInProgressError, VertexJournal
from release.promotion.vertex_mover import VertexMover
from tests.compile.promotion_fakes import (
    CountingStorage,
    Crash,
    Faults,
    OperatedEndpointService,
    count_model_service,
)
from tests.compile.vertex_fakes import FakeModelService, trained_model

LINEAGE = Lineage(
    pipeline_run_id="penguins-dev-ci-0123456789abcdef",
    image="europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "0" * 64,
)
MODEL = "projects/my-dev-project/locations/europe-west4/models/penguins-dev-penguins-model"


def passes(version):
    """The model tests are tested elsewhere (tests/unit, tests/e2e): here they pass."""


class World:
    """One environment's Vertex registry, endpoint and journal behind stand-ins, with clocks the test moves."""

    def __init__(self, gcs, monkeypatch, deploy_polls: int = 0) -> None:
        from google.cloud.aiplatform import initializer

        self.faults = Faults()
        self.models = FakeModelService().install(monkeypatch)
        count_model_service(monkeypatch, self.faults)
        # Model.upload builds the Model it returns without the caller's credentials: it falls back to these.
        monkeypatch.setattr(initializer.global_config, "_credentials", AnonymousCredentials())
        target = registry_target(load_environment("dev", "penguins"))
        self.endpoint = OperatedEndpointService(target.endpoint, self.faults, deploy_polls).install(monkeypatch)
        # A journal (and model-test outcomes beside it) of its own.
        history = f"gs://penguins-dev-registry/{uuid.uuid4().hex}/history"
        self.target = target.model_copy(update={"history_uri": history})
        self.storage = CountingStorage(gcs, self.faults)
        self.gcs = gcs
        self.registry = VertexRegistry(self.target, credentials=AnonymousCredentials(), storage_client=self.storage)
        self.now = datetime.now(timezone.utc)  # The journal's clock (leases).
        self.seconds = 0.0  # The endpoint's clock (deploy polls), moved by its sleeps.

    def mover(self, **options) -> VertexMover:
        bucket, _, prefix = self.target.history_uri.removeprefix("gs://").partition("/")
        journal = VertexJournal(self.storage.bucket(bucket), prefix, clock=lambda: self.now)
        endpoint = VertexEndpoint(
            self.target.endpoint,
            MODEL,
            self.target.serving,
            service_account=self.target.serving_service_account,
            credentials=AnonymousCredentials(),
            monotonic=lambda: self.seconds,
            sleep=self._sleep,
        )
        return VertexMover(self.registry, journal=journal, endpoint=endpoint, **options)

    def _sleep(self, seconds: float) -> None:
        self.seconds += seconds

    def register(self, *names: str) -> None:
        for name in names:
            self.registry.register(trained_model(self.gcs, name), LINEAGE, blessed=True)

    def gate(self) -> ModelTestGate:
        return ModelTestGate(outcomes_for(self.target, self.storage), "7" * 64, lambda: passes, "test")

    def promote(self, version: str, mover: VertexMover | None = None):
        return promote(mover or self.mover(), version, self.gate(), by="ci", reason="blessed")

    def rollback(self, to: str | None = None):
        return rollback(self.mover(), self.gate(), to=to, by="alice", reason="regression")

    def serving(self) -> str | None:
        """The version with all the endpoint's traffic."""
        versions = self.endpoint.versions()
        return next((versions[d] for d, share in self.endpoint.split().items() if share == 100), None)

    def agreement(self) -> tuple[str | None, str | None, str | None, list[str]]:
        """(the alias, the history's last champion, what serves, pending moves)."""
        entries = self.mover().entries()
        history = committed(entries)
        last = history[-1].to_version if history else None
        pending = [e.describe() for e in entries if e.state == "pending"]
        return self.registry.alias_version(CHAMPION), last, self.serving(), pending


@pytest.fixture
def world(gcs, monkeypatch):
    return World(gcs, monkeypatch)


def test_the_first_promotion_deploys_at_no_traffic_then_gives_it_all(world):
    world.register("one")
    move = world.promote("1")
    (deploy,) = world.endpoint.of("deploy")
    assert deploy.endpoint == world.target.endpoint
    deployed = deploy.deployed_model
    assert deployed.model == f"{MODEL}@1" and deployed.display_name == "penguins-dev-penguins-model-v1"
    resources = deployed.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-standard-2"
    assert (resources.min_replica_count, resources.max_replica_count) == (1, 1)
    assert deployed.service_account == "penguins-dev-serving@my-dev-project.iam.gserviceaccount.com"
    assert dict(deploy.traffic_split) == {}  # No traffic until the deploy is known to have finished ...
    (update,) = world.endpoint.of("update")
    assert dict(update.endpoint.traffic_split) == {"1000": 100}  # ... then all of it, by a split update.
    assert list(update.update_mask.paths) == ["traffic_split"]
    assert move.serving == "deployed version 1 (deployed model 1000) at 100%"
    assert world.agreement() == ("1", "1", "1", [])
    # The journal: the claim, the deploy's operation, the outcome; each object written once.
    journal = world.mover().journal
    (entry,) = journal.entries()
    assert (entry.sequence, entry.state, entry.move.serving) == (1, "committed", move.serving)
    assert journal.operation(1) == f"{world.target.endpoint}/operations/1"


def test_a_promotion_keeps_the_previous_champion_at_zero_and_undeploys_older_ones(world):
    world.register("one", "two", "three")
    world.promote("1")
    world.promote("2")
    assert dict(world.endpoint.of("update")[-1].endpoint.traffic_split) == {"1001": 100, "1000": 0}
    move = world.promote("3")
    # Version 1 is neither the champion nor the one before it: undeployed once the alias moved.
    (undeploy,) = world.endpoint.of("undeploy")
    assert undeploy.deployed_model_id == "1000" and dict(undeploy.traffic_split) == {"1002": 100, "1001": 0}
    assert world.endpoint.versions() == {"1001": "2", "1002": "3"}
    assert world.endpoint.split() == {"1002": 100, "1001": 0}
    assert move.serving.endswith("version 2 kept deployed at 0%; undeployed version(s) 1")


def test_a_rollback_to_the_kept_version_is_only_a_traffic_switch(world):
    world.register("one", "two")
    world.promote("1")
    world.promote("2")
    deploys, updates = len(world.endpoint.of("deploy")), len(world.endpoint.of("update"))
    move = world.rollback()
    assert len(world.endpoint.of("deploy")) == deploys and not world.endpoint.of("undeploy")
    (update,) = world.endpoint.of("update")[updates:]
    assert dict(update.endpoint.traffic_split) == {"1000": 100, "1001": 0}
    assert move.serving == (
        "traffic switch to already deployed version 1 (deployed model 1000) at 100%; version 2 kept deployed at 0%"
    )
    assert world.agreement() == ("1", "1", "1", [])


def test_a_double_rollback_goes_back_past_the_version_rolled_away_from(world):
    world.register("one", "two", "three")
    for version in ("1", "2", "3"):
        world.promote(version)
    assert world.rollback().to_version == "2"
    move = world.rollback()
    assert move.to_version == "1" and move.serving.startswith("deployed version 1 (deployed model 1003) at 100%")
    with pytest.raises(RegistryError, match="no earlier champion"):
        world.rollback()
    assert world.agreement() == ("1", "1", "1", [])


def test_a_failed_deploy_leaves_the_alias_the_endpoint_and_the_history_as_they_were(world):
    world.register("one", "two")
    world.promote("1")
    before = (world.endpoint.split(), world.endpoint.versions())
    world.endpoint.fail_deploy = "quota exceeded for n1-standard-2"
    with pytest.raises(RegistryError, match=r"deploying version 2 failed: quota exceeded.*rolled back"):
        world.promote("2")
    assert (world.endpoint.split(), world.endpoint.versions()) == before
    assert world.agreement() == ("1", "1", "1", [])
    assert [(e.sequence, e.state) for e in world.mover().entries()] == [(1, "committed"), (2, "aborted")]
    world.endpoint.fail_deploy = None
    world.promote("2")
    assert [(e.sequence, e.state) for e in world.mover().entries()][-1] == (3, "committed")


def test_a_failed_alias_move_puts_the_traffic_back(world):
    world.register("one", "two")
    world.promote("1")
    world.models.fail_merge = exceptions.ServiceUnavailable("model service unavailable")
    with pytest.raises(RegistryError, match=r"model service unavailable.*rolled back; traffic: all to version 1"):
        world.promote("2")
    assert world.agreement() == ("1", "1", "1", [])
    assert world.mover().entries()[-1].state == "aborted"


def test_a_missing_endpoint_is_named_and_nothing_moves(world):
    world.register("one")
    world.target = world.target.model_copy(update={"endpoint": world.target.endpoint + "0"})
    world.registry.target = world.target
    with pytest.raises(RegistryError, match=r"endpoint .*/endpoints/\d+0 does not exist: create it with infra"):
        world.promote("1")
    assert world.registry.alias_version(CHAMPION) is None and not world.endpoint.of("deploy")
    assert world.mover().entries() == []  # Nothing claimed.


@pytest.fixture
def slow_world(gcs, monkeypatch):
    """Deploys that never finish by themselves within the environment's deploy timeout."""
    return World(gcs, monkeypatch, deploy_polls=10_000)


def test_a_deploy_past_its_time_is_cancelled_and_its_real_outcome_awaited_before_anything_is_recorded(slow_world):
    world = slow_world
    world.endpoint.deploy_polls = 0
    world.register("one", "two")
    world.promote("1")
    world.endpoint.deploy_polls = 10_000
    with pytest.raises(RegistryError, match=r"cancelled after its time ran out"):
        world.promote("2")
    # Polled for the whole deploy timeout (1200 s in dev, by the endpoint's clock), then cancelled and asked again.
    assert world.seconds >= world.target.serving.deploy_timeout_seconds
    kinds = [kind for kind, _ in world.endpoint.requests]
    assert kinds.index("cancel") < len(kinds) - 1 and kinds[kinds.index("cancel") + 1] == "get_operation"
    assert world.agreement() == ("1", "1", "1", [])
    assert world.endpoint.versions() == {"1000": "1"}  # Cancelled: nothing deployed.


def test_a_deploy_that_finishes_despite_its_cancel_completes_the_move(slow_world):
    world = slow_world
    world.register("one")
    world.endpoint.on_cancel = "finishes"
    move = world.promote("1")
    assert ("cancel" in [k for k, _ in world.endpoint.requests]) and move.to_version == "1"
    assert world.agreement() == ("1", "1", "1", [])


def test_a_deploy_still_running_after_its_cancel_leaves_the_move_to_the_next_command(slow_world):
    world = slow_world
    world.endpoint.deploy_polls = 0
    world.register("one", "two")
    world.promote("1")
    world.endpoint.deploy_polls, world.endpoint.on_cancel = 10_000, "runs"
    with pytest.raises(DeployUnresolvedError, match=r"operations/2: still running .* `models repair` asks it again"):
        world.promote("2")
    (pending,) = [e for e in world.mover().entries() if e.state == "pending"]
    assert world.mover().journal.lease_left(pending) == 0  # Released: no need to wait for the lease.
    assert world.serving() == "1"  # Deployed at 0% if it ever finishes: nothing serves it.
    settled, _ = repair(world.mover())
    assert [e.state for e in settled] == ["aborted"] and "still running: cancelled" in settled[0].note
    assert world.agreement() == ("1", "1", "1", [])


def test_a_crashed_mover_holds_its_lease_then_the_next_command_puts_the_traffic_back(world):
    world.register("one", "two")
    world.promote("1")

    def crash(step):
        if step == "traffic":
            raise Crash("killed after switching the traffic")

    with pytest.raises(Crash):
        world.promote("2", world.mover(after_step=crash))
    assert world.serving() == "2" and world.registry.alias_version(CHAMPION) == "1"  # Half way.
    with pytest.raises(MoveInProgressError, match=r"move 2 \(promote champion 1 -> 2\) pending: in progress"):
        world.promote("2")
    world.now += timedelta(seconds=LEASE_SECONDS + 60)  # The lease runs out: nobody renewed it.
    settled, _ = repair(world.mover())
    assert [e.state for e in settled] == ["aborted"] and "traffic: all to version 1" in settled[0].note
    assert world.agreement() == ("1", "1", "1", [])
    world.promote("2")  # And the next move goes through.
    assert world.agreement() == ("2", "2", "2", [])


def test_a_late_outcome_for_a_settled_claim_is_refused(world):
    world.register("one")
    world.promote("1")
    journal = world.mover().journal
    with pytest.raises(RegistryError, match="recorded first"):
        journal.finish(journal.entries()[0], "aborted", note="late")
    assert [m.to_version for m in committed(journal.entries())] == ["1"]


def test_history_written_before_states_still_reads(world, gcs):
    bucket, _, prefix = world.target.history_uri.removeprefix("gs://").partition("/")
    at = "2026-01-01T00:00:00+00:00"
    old = AliasMove(alias=CHAMPION, from_version=None, to_version="1", at=at, by="ci", reason="r", kind="promote")
    gcs.bucket(bucket).blob(f"{prefix}/00000001.json").upload_from_string(old.model_dump_json())
    gcs.bucket(bucket).blob(f"{prefix}/00000002.json").upload_from_string(
        '{"state": "pending", "move": ' + old.model_copy(update={"to_version": "2"}).model_dump_json() + "}"
    )
    gcs.bucket(bucket).blob(f"{prefix}/00000002.outcome.json").upload_from_string(
        '{"state": "aborted", "error": "old-style", "move": ' + old.model_dump_json() + "}"
    )
    entries = world.mover().entries()
    assert [(e.state, e.note) for e in entries] == [("committed", None), ("aborted", "old-style")]


def _clean_move_requests(gcs, monkeypatch) -> int:
    """How many requests a promotion that deploys makes, from its first to its last."""
    world = World(gcs, monkeypatch)
    world.register("one", "two")
    world.promote("1")
    start = len(world.faults.requests)
    world.promote("2")
    return len(world.faults.requests) - start


@pytest.mark.slow
@pytest.mark.parametrize("how", ["error", "crash"])
def test_a_failure_at_every_request_of_a_move_is_settled_so_alias_history_and_traffic_agree(gcs, monkeypatch, how):
    """Each request of a promotion fails in turn: with an error (the mover settles it at once), or with a crash
    (nothing more runs: the next command settles it once the lease has run out). Either way, afterwards the
    alias, the history and the endpoint's traffic agree, on the old champion or on the new one."""
    total = _clean_move_requests(gcs, monkeypatch)
    assert total > 15
    ended = {"1": 0, "2": 0}
    for n in range(1, total + 1):
        world = World(gcs, monkeypatch)
        world.register("one", "two")
        world.promote("1")
        failure = exceptions.ServiceUnavailable(f"request {n} failed") if how == "error" else Crash(f"killed at {n}")
        world.faults.fail_at(n, failure)
        # Where it stopped is what the settling below must cope with.
        with contextlib.suppress(RegistryError, exceptions.GoogleAPICallError, Crash):
            world.promote("2")
        failed_at, _ = world.faults.fired, world.faults.disarm()
        assert failed_at, f"request {n} of {total} was never made"
        world.now += timedelta(seconds=LEASE_SECONDS + 60)
        world.mover().settle()  # What the next command does first.
        alias, last, serving, pending = world.agreement()
        assert alias == last == serving and not pending, (n, failed_at)
        ended[alias] += 1
        # And the next move goes through from there.
        if alias == "2":
            assert world.rollback().to_version == "1"
        else:
            assert world.promote("2").to_version == "2"
        assert world.agreement()[:3] == (world.serving(),) * 3
    assert ended["1"] and ended["2"], ended  # Both ways out were taken: before and after the commit point.


def _canary(world, version="2", percent=10, mover=None):
    from release.promotion import canary

    return canary.start(mover or world.mover(), version, percent, world.gate(), by="ci", reason="canary")


def _shares(world) -> dict[str, int]:
    """{version: share} of the endpoint's traffic, shares above zero only."""
    versions = world.endpoint.versions()
    return {versions[d]: share for d, share in world.endpoint.split().items() if share}


def test_a_canary_deploys_at_no_traffic_then_takes_its_share_and_ends_either_way(world):
    from contracts.registry import CANDIDATE
    from release.promotion import canary

    world.register("one", "two", "three")
    world.promote("1")
    move = _canary(world, "2", 10)
    assert move.alias == CANDIDATE and "at 10%, the champion 1 at 90%" in move.serving
    (_, deploy) = world.endpoint.of("deploy")
    assert dict(deploy.traffic_split) == {}  # Deployed at 0%: the split comes after, in one update.
    assert _shares(world) == {"1": 90, "2": 10} and world.registry.alias_version(CANDIDATE) == "2"
    ended = canary.finish(world.mover(), "rollback", by="monitor", reason="worse", figures={"p99_ratio": 3.0})
    assert ended.figures == {"p99_ratio": 3.0} and _shares(world) == {"1": 100}
    assert world.registry.alias_version(CANDIDATE) == "1" and world.registry.alias_version(CHAMPION) == "1"
    _canary(world, "3", 20)
    assert _shares(world) == {"1": 80, "3": 20}
    canary.finish(world.mover(), "promote", by="monitor", reason="better")
    assert _shares(world) == {"3": 100} and world.registry.alias_version(CHAMPION) == "3"
    assert set(world.endpoint.versions().values()) == {"1", "3"}  # 2 undeployed, 1 kept at 0% for a rollback.


@pytest.mark.slow
@pytest.mark.parametrize("how", ["error", "crash"])
def test_a_failure_at_every_request_of_a_canary_start_leaves_the_split_where_the_aliases_say(gcs, monkeypatch, how):
    from contracts.registry import CANDIDATE
    from release.promotion import canary

    def clean():
        world = World(gcs, monkeypatch)
        world.register("one", "two")
        world.promote("1")
        return world

    world = clean()
    start = len(world.faults.requests)
    _canary(world)
    total = len(world.faults.requests) - start
    ended = {"started": 0, "not": 0}
    for n in range(1, total + 1):
        world = clean()
        failure = exceptions.ServiceUnavailable(f"request {n} failed") if how == "error" else Crash(f"killed at {n}")
        world.faults.fail_at(n, failure)
        with contextlib.suppress(RegistryError, exceptions.GoogleAPICallError, Crash):
            _canary(world)
        world.faults.disarm()
        world.now += timedelta(seconds=LEASE_SECONDS + 60)
        mover = world.mover()
        mover.settle()
        running = canary.running(mover)
        if running is not None:
            assert _shares(world) == {"1": 90, "2": 10}, n
            assert world.registry.alias_version(CANDIDATE) == "2"
            ended["started"] += 1
        else:
            assert _shares(world) == {"1": 100}, n
            ended["not"] += 1
    assert ended["started"] and ended["not"], ended
