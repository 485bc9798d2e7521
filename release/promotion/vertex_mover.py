"""A move on the Vertex AI Model Registry and the champion's endpoint, one transaction in the GCS journal.

    intent    claim the next sequence number (create-only), holding its lease
    deploy    the version deployed at 0% if it is not deployed yet (its operation's name recorded first)
    traffic   all the traffic to it, the previous champion kept at 0%
    alias     `champion` moved onto it (ModelService.MergeVersionAliases): the commit point
    outcome   committed, with what serving did; older deployed models undeployed first

Any step that fails, in this process or because it was killed, is settled the same way (here at once, or by
the next command once the lease is released or runs out): committed if the alias had moved, else aborted,
and the endpoint's traffic put back where the alias is. A deploy that ran past its time is asked what it did
before anything is recorded; one still running after a cancel leaves the move pending for the next command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contracts.google_apis import TRANSPORT, client_options, storage_client_options, vertex_host
from contracts.registry import CANDIDATE, CHAMPION, AliasMove, RegistryError
from release.promotion.canary import running_in
from release.promotion.journal import Entry, StepHook, committed, no_hook, outcome
from release.promotion.vertex_endpoint import DeployUnresolvedError, VertexEndpoint
from release.promotion.vertex_journal import LEASE_SECONDS, Lease, MoveInProgressError, VertexJournal


class VertexMover:
    def __init__(
        self,
        registry: Any,
        *,
        storage_client: Any = None,
        endpoint: VertexEndpoint | None = None,
        lease_seconds: float = LEASE_SECONDS,
        after_step: StepHook = no_hook,
        journal: VertexJournal | None = None,
    ) -> None:
        target = registry.target
        if target.backend != "vertex" or not (target.project and target.region and target.history_uri):
            raise RegistryError(f"{target.model_name}: the Vertex mover needs project, region and history_uri")
        self.registry = registry
        self.credentials = getattr(registry, "credentials", None)
        self.resource = f"projects/{target.project}/locations/{target.region}/models/{target.model_name}"
        self.journal = journal or self._journal(storage_client, lease_seconds)
        self.endpoint = endpoint or self._endpoint()
        self._after = after_step

    def _journal(self, storage_client: Any, lease_seconds: float) -> VertexJournal:
        target = self.registry.target
        if storage_client is None:
            from google.cloud import storage

            storage_client = storage.Client(
                project=target.project, credentials=self.credentials, client_options=storage_client_options()
            )
        bucket, _, prefix = target.history_uri.removeprefix("gs://").partition("/")
        return VertexJournal(storage_client.bucket(bucket), prefix, lease_seconds=lease_seconds)

    def _endpoint(self) -> VertexEndpoint | None:
        target = self.registry.target
        if not (target.endpoint and target.serving):
            return None
        return VertexEndpoint(
            target.endpoint,
            self.resource,
            target.serving,
            service_account=target.serving_service_account,
            credentials=self.credentials,
        )

    @contextmanager
    def locked(self) -> Iterator[None]:
        # No lock service: the create-only claims decide between concurrent movers.
        yield

    def entries(self) -> list[Entry]:
        return self.journal.entries()

    def current(self) -> str | None:
        champion: str | None = self.registry.alias_version(CHAMPION)
        return champion

    def settle(self) -> list[Entry]:
        settled = []
        for entry in self.entries():
            if entry.state != "pending":
                continue
            left = self.journal.lease_left(entry)
            if left > 0:
                raise MoveInProgressError(
                    f"{entry.describe()}: in progress (its mover's lease runs {left:.0f} s more); retry when it is done"
                )
            settled.append(self._settle(entry))
        return settled

    def apply(self, move: AliasMove) -> AliasMove:
        if self.endpoint is not None:
            self.endpoint.state()  # A missing endpoint is named before anything is claimed.
        entries = self.entries()
        lease = self.journal.claim(move, entries[-1].sequence + 1 if entries else 1)
        try:
            return self._run(move, lease)
        except DeployUnresolvedError as err:
            self.journal.release(lease.entry.sequence, str(err))
            raise
        except Exception as err:
            return self._recover(lease.entry, err)

    def _run(self, move: AliasMove, lease: Lease) -> AliasMove:
        self._after("intent")
        alias_now = self.registry.alias_version(move.alias)
        if alias_now != move.from_version:
            raise RegistryError(f"{move.alias} moved to {alias_now} meanwhile (expected {move.from_version})")
        serving = None
        if self.endpoint is not None and move.alias == CHAMPION:
            serving = self._serve(move, lease)
        elif self.endpoint is not None and move.alias == CANDIDATE:
            serving = self._serve_canary(move, lease)
        lease.keep()  # The last check before the commit point: a mover whose lease is lost must not commit.
        self._merge_alias(move)
        self._after("alias")
        if self.endpoint is not None and serving is not None and move.alias == CHAMPION:
            serving = self._pruned(move, serving, lease)
        done = move.model_copy(update={"serving": serving}) if serving else move
        self.journal.finish(lease.entry, "committed", done)
        self._after("outcome")
        return done

    def _deployed(self, move: AliasMove, state: Any, lease: Lease) -> tuple[Any, bool]:
        """`move.to_version` deployed at 0% if it is not yet (its operation recorded first); the endpoint's state
        after, and whether this deployed it."""
        assert self.endpoint is not None
        deployed = move.to_version not in state.deployed
        if deployed:
            sequence = lease.entry.sequence

            def started(operation: str) -> None:
                self.journal.note_operation(sequence, operation, move.to_version)

            self.endpoint.deploy(move.to_version, started=started, tick=lease.keep)
            state = self.endpoint.state()
        self._after("deploy")
        lease.keep()
        return state, deployed

    def _serve(self, move: AliasMove, lease: Lease) -> str:
        assert self.endpoint is not None
        state = self.endpoint.state()
        state, deployed = self._deployed(move, state, lease)
        kept = move.from_version if move.from_version in state.deployed else None
        self.endpoint.switch(state, move.to_version, kept)
        self._after("traffic")
        how = "deployed" if deployed else "traffic switch to already deployed"
        text = f"{how} version {move.to_version} (deployed model {state.deployed[move.to_version]}) at 100%"
        return text + (f"; version {kept} kept deployed at 0%" if kept else "")

    def _serve_canary(self, move: AliasMove, lease: Lease) -> str:
        """A canary's start: its version deployed at 0% (if it is not yet), then its share of the traffic beside
        the champion's. Its end by rollback (the candidate back onto the champion): all the traffic to the
        champion, the candidate kept deployed at 0% (the next promotion undeploys it)."""
        assert self.endpoint is not None
        champion = self.registry.alias_version(CHAMPION)
        state = self.endpoint.state()
        if champion is None or champion not in state.deployed:
            raise RegistryError(f"the champion {champion} is not deployed on {self.endpoint.endpoint}: no canary")
        if move.kind != "canary":
            self.endpoint.switch(state, champion, keep=move.from_version)
            self._after("traffic")
            return f"all the traffic back to the champion {champion}; version {move.from_version} kept at 0%"
        state, deployed = self._deployed(move, state, lease)
        assert move.percent is not None
        self.endpoint.split_canary(state, champion, move.to_version, move.percent)
        self._after("traffic")
        how = "deployed" if deployed else "already deployed"
        return (
            f"{how} version {move.to_version} (deployed model {state.deployed[move.to_version]}) at {move.percent}%, "
            f"the champion {champion} at {100 - move.percent}%"
        )

    def _pruned(self, move: AliasMove, serving: str, lease: Lease) -> str:
        assert self.endpoint is not None
        kept = move.from_version
        try:
            removed = self.endpoint.prune(move.to_version, kept, tick=lease.keep)
        except Exception as err:  # The move stands; the next move undeploys what is left.
            return f"{serving}; undeploying older versions failed ({err}), the next move retries"
        return f"{serving}; undeployed version(s) {', '.join(removed)}" if removed else serving

    def _merge_alias(self, move: AliasMove) -> None:
        from google.cloud.aiplatform_v1 import ModelServiceClient

        client = ModelServiceClient(
            credentials=self.credentials,
            transport=TRANSPORT,
            client_options=client_options(vertex_host(self.registry.target.region)),
        )
        # Applying an alias another version holds moves it: Vertex keeps aliases unique within a model.
        client.merge_version_aliases(name=f"{self.resource}@{move.to_version}", version_aliases=[move.alias])

    def _recover(self, entry: Entry, err: Exception) -> AliasMove:
        try:
            settled = self._settle(entry)
        except Exception as settling:
            with contextlib.suppress(Exception):  # Unreachable storage: the lease runs out instead.
                self.journal.release(entry.sequence, f"{err}; settling failed: {settling}")
            raise RegistryError(
                f"moving {entry.move.alias} to {entry.move.to_version} failed ({err}), and settling it failed too "
                f"({settling}): the next move or `models repair` settles it"
            ) from err
        if settled.state == "committed":
            return settled.move
        raise RegistryError(
            f"moving {entry.move.alias} to {entry.move.to_version} failed ({err}); {settled.note}"
        ) from err

    def _settle(self, entry: Entry) -> Entry:
        """Decide a pending move by its commit point, put the traffic where the alias is, record the outcome."""
        notes = []
        operation = self.journal.operation(entry.sequence)
        if operation and self.endpoint is not None and not self.endpoint.operation(operation).done:
            # Deployed at 0% if it ever finishes: harmless, and pruned by the next move.
            self.endpoint.cancel(operation)
            notes.append(f"its deploy {operation} was still running: cancelled")
        alias_now = self.registry.alias_version(entry.move.alias)
        state, decided = outcome(entry.move, alias_now)
        if self.endpoint is not None:
            changed = self._put_back([entry.move] if state == "committed" else [])
            notes.append(changed or "the endpoint's traffic was already there")
        return self.journal.finish(entry, state, note="; ".join([decided, *notes]))

    def _put_back(self, settled: list[AliasMove]) -> str | None:
        """The endpoint's traffic to where the aliases and the history say: the champion, and a running canary's
        share (`settled`: a move just decided committed, not in the journal's history yet)."""
        assert self.endpoint is not None
        champion = self.registry.alias_version(CHAMPION)
        running = running_in([*committed(self.entries()), *settled], champion)
        return self.endpoint.put_back(champion, (running.candidate, running.percent) if running else None)

    def reconcile(self) -> list[str]:
        if self.endpoint is None:
            return []
        changed = self._put_back([])
        return [changed] if changed else []
