"""The champion's Vertex AI endpoint: deploy a version with 100% of traffic, keep the previous one at 0%.

The endpoint holds at most two deployed models: the champion (100%) and the champion before it (0%), so a
rollback to that one is a traffic-split update that takes seconds; any older deployed model is undeployed
once the move is complete. A version that is no longer deployed is deployed again (minutes). Deployed models
are told apart by the version they serve (DeployedModel.model_version_id), not by their display names.

Requests go through the GAPIC EndpointServiceClient on the region's endpoint; deploys and undeploys are
long-running operations, waited for here, so a failed deploy raises before the caller moves the alias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.environment import Serving
from contracts.google_apis import TRANSPORT, client_options, vertex_host
from contracts.registry import RegistryError


class ServingError(RegistryError):
    """The endpoint did not take the change (deploy or traffic switch failed); its traffic is as it was."""


@dataclass(frozen=True)
class ServingChange:
    """What one move did to the endpoint, and the traffic split to restore if the move is abandoned."""

    version: str
    deployed_model_id: str
    # True: a new deployed model was created (minutes); False: only the traffic split changed (seconds).
    deployed: bool
    kept: str | None
    previous_split: dict[str, int]

    def describe(self) -> str:
        how = "deployed" if self.deployed else "traffic switch to already deployed"
        kept = f"; version {self.kept} kept deployed at 0%" if self.kept else ""
        return f"{how} version {self.version} (deployed model {self.deployed_model_id}) at 100%{kept}"


class VertexEndpoint:
    def __init__(
        self,
        endpoint: str,
        model: str,
        settings: Serving,
        *,
        service_account: str | None = None,
        credentials: Any = None,
    ) -> None:
        # endpoint: projects/P/locations/R/endpoints/ID; model: projects/P/locations/R/models/M.
        self.endpoint = endpoint
        self.model = model
        self.settings = settings
        self.service_account = service_account
        self.credentials = credentials
        self.region = endpoint.split("/")[3]

    def _client(self) -> Any:
        from google.cloud.aiplatform_v1 import EndpointServiceClient

        options = client_options(vertex_host(self.region))
        return EndpointServiceClient(credentials=self.credentials, transport=TRANSPORT, client_options=options)

    def _state(self, client: Any) -> tuple[dict[str, str], dict[str, int]]:
        """{version: deployed model id} of this model's deployed models, and the endpoint's traffic split."""
        from google.api_core import exceptions

        try:
            endpoint = client.get_endpoint(name=self.endpoint)
        except exceptions.NotFound as err:
            raise ServingError(f"endpoint {self.endpoint} does not exist: create it with infra (cdktf deploy)") from err
        model_id = self.model.rsplit("/", 1)[-1]
        deployed = {
            str(d.model_version_id): d.id for d in endpoint.deployed_models if d.model.endswith(f"/models/{model_id}")
        }
        return deployed, {key: int(value) for key, value in endpoint.traffic_split.items()}

    def serve(self, version: str, keep: str | None) -> ServingChange:
        """Give `version` 100% of traffic (deploying it if needed), `keep` 0%. Raises ServingError, changing nothing."""
        from google.api_core import exceptions

        client = self._client()
        deployed, split = self._state(client)
        kept = keep if keep in deployed and keep != version else None
        try:
            if version in deployed:
                target = deployed[version]
                self._set_split(client, self._split(deployed, target))
                return ServingChange(version, target, False, kept, split)
            target = self._deploy(client, version, self._split(deployed, "0"))
        except exceptions.GoogleAPICallError as err:
            raise ServingError(f"{self.endpoint}: serving version {version} failed: {err}") from err
        return ServingChange(version, target, True, kept, split)

    def restore(self, change: ServingChange) -> None:
        """Put the traffic back as it was before `change` (the alias did not move after all)."""
        client = self._client()
        if change.previous_split:
            self._set_split(client, change.previous_split)
        if change.deployed:
            # The new deployed model has no traffic now: remove it, the endpoint is as it was.
            self._undeploy(client, change.deployed_model_id, change.previous_split)

    def prune(self, change: ServingChange) -> list[str]:
        """Undeploy every deployed model of this model except the champion and the one kept; the versions removed."""
        client = self._client()
        deployed, split = self._state(client)
        keep_ids = {change.deployed_model_id} | ({deployed[change.kept]} if change.kept in deployed else set())
        removed = []
        for version, deployed_id in sorted(deployed.items()):
            if deployed_id not in keep_ids:
                split = {key: value for key, value in split.items() if key != deployed_id}
                self._undeploy(client, deployed_id, split)
                removed.append(version)
        return removed

    @staticmethod
    def _split(deployed: dict[str, str], target: str) -> dict[str, int]:
        # Every other deployed model of ours at 0 (absent from a split means no traffic).
        return {target: 100} | {d: 0 for d in deployed.values() if d != target}

    def _deploy(self, client: Any, version: str, split: dict[str, int]) -> str:
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
        operation = client.deploy_model(endpoint=self.endpoint, deployed_model=deployed, traffic_split=split)
        return str(operation.result(timeout=self.settings.deploy_timeout_seconds).deployed_model.id)

    def _set_split(self, client: Any, split: dict[str, int]) -> None:
        from google.cloud.aiplatform_v1.types import Endpoint
        from google.protobuf.field_mask_pb2 import FieldMask

        client.update_endpoint(
            endpoint=Endpoint(name=self.endpoint, traffic_split=split), update_mask=FieldMask(paths=["traffic_split"])
        )

    def _undeploy(self, client: Any, deployed_id: str, split: dict[str, int]) -> None:
        operation = client.undeploy_model(endpoint=self.endpoint, deployed_model_id=deployed_id, traffic_split=split)
        operation.result(timeout=self.settings.deploy_timeout_seconds)
