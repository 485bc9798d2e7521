"""The champion's Vertex AI endpoint: deploy a version at 0%, switch the traffic, ask a deploy what it did.

A version is deployed with no traffic (an empty traffic split leaves the endpoint's split as it is), then a
traffic-split update (seconds) gives it 100%. So a deploy that outlives its mover, finishes after a timeout
or is never recorded can only add a deployed model at 0%: what serves changes only by a split the mover (or
the command settling it) sets, after the deploy is known to have finished.

The endpoint holds at most two deployed models of this model: the champion (100%) and the one before it (0%),
so a rollback to that one is a split update; older ones are undeployed once a move is complete. Deployed
models are told apart by the version they serve (DeployedModel.model_version_id), not by their names.

Deploys and undeploys are long-running operations, polled here through the endpoint client's
operations methods (projects.locations.endpoints.operations get/cancel): each poll calls `tick` (the
mover's lease), and a deploy that runs past its time is asked what it did, cancelled if it still runs, and
its real outcome waited for before anything is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.environment import Serving
from contracts.google_apis import TRANSPORT, client_options, vertex_host
from contracts.registry import RegistryError

# How long a cancelled deploy is waited for, after its own time ran out, before the move is left to settle.
CANCEL_GRACE_SECONDS = 300.0
# How long an undeploy of an old version is waited for; one still running then is left to finish on its own.
UNDEPLOY_WAIT_SECONDS = 300.0
POLL_SECONDS = 10.0


class ServingError(RegistryError):
    """The endpoint did not take the change (a deploy or a traffic switch failed): what serves did not change."""


class DeployUnresolvedError(ServingError):
    """A deploy ran past its time and is still running after it was cancelled: the move stays pending and the
    next command (or `models repair`) asks its operation again."""


@dataclass(frozen=True)
class EndpointState:
    """This model's deployed models ({version: deployed model id}) and the endpoint's traffic split."""

    deployed: dict[str, str]
    split: dict[str, int]

    def serving(self) -> str | None:
        """The version with all the traffic, if one has it."""
        return next((v for v, d in self.deployed.items() if self.split.get(d, 0) == 100), None)


Tick = Callable[[], None]


def _no_tick() -> None:
    """Nothing to renew."""


class VertexEndpoint:
    def __init__(
        self,
        endpoint: str,
        model: str,
        settings: Serving,
        *,
        service_account: str | None = None,
        credentials: Any = None,
        poll_seconds: float = POLL_SECONDS,
        cancel_grace_seconds: float = CANCEL_GRACE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # endpoint: projects/P/locations/R/endpoints/ID; model: projects/P/locations/R/models/M.
        self.endpoint = endpoint
        self.model = model
        self.settings = settings
        self.service_account = service_account
        self.credentials = credentials
        self.region = endpoint.split("/")[3]
        self.poll_seconds, self.cancel_grace_seconds = poll_seconds, cancel_grace_seconds
        self._monotonic, self._sleep = monotonic, sleep
        self._client_instance: Any = None

    def _client(self) -> Any:
        if self._client_instance is None:
            from google.cloud.aiplatform_v1 import EndpointServiceClient

            options = client_options(vertex_host(self.region))
            self._client_instance = EndpointServiceClient(
                credentials=self.credentials, transport=TRANSPORT, client_options=options
            )
        return self._client_instance

    def state(self) -> EndpointState:
        from google.api_core import exceptions

        try:
            endpoint = self._client().get_endpoint(name=self.endpoint)
        except exceptions.NotFound as err:
            raise ServingError(f"endpoint {self.endpoint} does not exist: create it with infra (cdktf deploy)") from err
        model_id = self.model.rsplit("/", 1)[-1]
        deployed = {
            str(d.model_version_id): d.id for d in endpoint.deployed_models if d.model.endswith(f"/models/{model_id}")
        }
        return EndpointState(deployed, {key: int(value) for key, value in endpoint.traffic_split.items()})

    def deploy(self, version: str, *, started: Callable[[str], None], tick: Tick = _no_tick) -> str:
        """Deploy `version` with no traffic; the deployed model's id. `started` gets the operation's name first."""
        from google.api_core import exceptions
        from google.cloud.aiplatform_v1.types import DedicatedResources, DeployedModel, MachineSpec

        deployed = DeployedModel(
            model=f"{self.model}@{version}",
            display_name=f"{self.model.rsplit('/', 1)[-1]}-v{version}",
            dedicated_resources=DedicatedResources(
                machine_spec=MachineSpec(machine_type=self.settings.machine_type),
                min_replica_count=self.settings.min_replicas,
                max_replica_count=self.settings.max_replicas,
            ),
            service_account=self.service_account or "",
        )
        try:
            operation = self._client().deploy_model(endpoint=self.endpoint, deployed_model=deployed, traffic_split={})
        except exceptions.GoogleAPICallError as err:
            raise ServingError(f"{self.endpoint}: deploying version {version} was refused: {err}") from err
        name = operation.operation.name
        started(name)
        done = operation.operation if operation.operation.done else None
        done = done or self.wait(name, self.settings.deploy_timeout_seconds, tick)
        return self.deployed_model_id(done, f"deploying version {version}")

    def wait(self, name: str, timeout: float, tick: Tick = _no_tick) -> Any:
        """The finished operation `name`; past `timeout`, cancelled and waited for (DeployUnresolvedError if it
        still runs after the grace period)."""
        done = self._poll(name, timeout, tick)
        if done is not None:
            return done
        self.cancel(name)
        done = self._poll(name, self.cancel_grace_seconds, tick)
        if done is None:
            raise DeployUnresolvedError(
                f"{name}: still running {timeout:.0f} s after it started, and after it was cancelled; "
                "`models repair` asks it again"
            )
        return done

    def _poll(self, name: str, seconds: float, tick: Tick) -> Any:
        deadline = self._monotonic() + seconds
        while True:
            operation = self.operation(name)
            if operation.done:
                return operation
            if self._monotonic() >= deadline:
                return None
            tick()
            self._sleep(self.poll_seconds)

    def operation(self, name: str) -> Any:
        """The operation as Vertex has it now (operations get)."""
        from google.longrunning import operations_pb2

        return self._client().get_operation(request=operations_pb2.GetOperationRequest(name=name))

    def cancel(self, name: str) -> None:
        """Ask Vertex to cancel `name` (best effort: it may finish anyway, which `wait` then sees)."""
        from google.longrunning import operations_pb2

        self._client().cancel_operation(request=operations_pb2.CancelOperationRequest(name=name))

    @staticmethod
    def deployed_model_id(operation: Any, what: str) -> str:
        """The deployed model a finished deploy created; ServingError naming its error (a cancel, a quota)."""
        from google.cloud.aiplatform_v1.types import DeployModelResponse

        if operation.HasField("error") and operation.error.code:
            cancelled = " (cancelled after its time ran out)" if operation.error.code == 1 else ""
            raise ServingError(f"{what} failed{cancelled}: {operation.error.message or operation.error.code}")
        response = DeployModelResponse.deserialize(operation.response.value)
        return str(response.deployed_model.id)

    def switch(self, state: EndpointState, version: str, keep: str | None) -> dict[str, int]:
        """Give `version` all the traffic, every other deployed model of ours none; the split it replaced."""
        target = state.deployed[version]
        split = {target: 100} | {d: 0 for v, d in state.deployed.items() if v != version and v == keep}
        self.set_split(split)
        return state.split

    def put_back(self, version: str | None, canary: tuple[str, int] | None = None) -> str | None:
        """All the traffic to `version`'s deployed model (none if `version` is None), or, with a running `canary`
        (its version and percent), that share to the canary and the rest to `version`; what changed, if anything."""
        state = self.state()
        if version is not None and version not in state.deployed:
            return f"version {version} is the champion but not deployed on {self.endpoint}: promote it again"
        split = {state.deployed[version]: 100} if version is not None else {}
        shown = f"all to version {version}" if version else "all to no version"
        if version is not None and canary is not None and canary[0] in state.deployed and canary[0] != version:
            candidate, percent = canary
            split = {state.deployed[version]: 100 - percent, state.deployed[candidate]: percent}
            shown = f"version {version} {100 - percent}%, canary {candidate} {percent}%"
        if {d: p for d, p in state.split.items() if p} == split:
            return None
        self.set_split(split)
        return f"traffic: {shown} (was {state.split})"

    def split_canary(self, state: EndpointState, champion: str, candidate: str, percent: int) -> dict[str, int]:
        """`percent` of the traffic to `candidate`, the rest to `champion` (both deployed); the split it replaced."""
        self.set_split({state.deployed[champion]: 100 - percent, state.deployed[candidate]: percent})
        return state.split

    def prune(self, champion: str, kept: str | None, tick: Tick = _no_tick) -> list[str]:
        """Undeploy every deployed model of ours but the champion's and the kept one's; the versions removed."""
        state = self.state()
        removed = []
        split = dict(state.split)
        for version, deployed_id in sorted(state.deployed.items()):
            if version in (champion, kept):
                continue
            split = {key: value for key, value in split.items() if key != deployed_id}
            operation = self._client().undeploy_model(
                endpoint=self.endpoint, deployed_model_id=deployed_id, traffic_split=split
            )
            finished = operation.operation if operation.operation.done else None
            finished = finished or self._poll(operation.operation.name, UNDEPLOY_WAIT_SECONDS, tick)
            if finished is None:
                removed.append(f"{version} (still undeploying)")
                continue
            if finished.HasField("error") and finished.error.code:
                raise ServingError(f"undeploying version {version} failed: {finished.error.message}")
            removed.append(version)
        return removed

    def set_split(self, split: dict[str, int]) -> None:
        from google.cloud.aiplatform_v1.types import Endpoint
        from google.protobuf.field_mask_pb2 import FieldMask

        self._client().update_endpoint(
            endpoint=Endpoint(name=self.endpoint, traffic_split=split), update_mask=FieldMask(paths=["traffic_split"])
        )
