"""In-memory stand-ins for the Vertex AI services the release path calls, at the request level.

FakeModelService answers the ModelService client methods the SDK calls; FakeEndpointService sits one layer
lower, under the real EndpointServiceClient's REST transport, so the client builds the exact request protos
and decodes real long-running operations. Both record every request they receive.
"""

from __future__ import annotations

from google.api_core import exceptions
from google.cloud.aiplatform_v1.services.endpoint_service.transports.rest import EndpointServiceRestTransport
from google.cloud.aiplatform_v1.services.model_service import ModelServiceClient
from google.cloud.aiplatform_v1.types import endpoint as gca_endpoint
from google.cloud.aiplatform_v1.types import endpoint_service, model_service
from google.cloud.aiplatform_v1.types import model as gca_model
from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2


def trained_model(gcs, content: str, run: str = "run") -> str:
    """A Trainer's SavedModel folder in the pipeline-root bucket of the GCS emulator (one file whose bytes are
    `content`: equal contents are the same version); its gs:// URI, what RegistryPush registers."""
    folder = f"penguins-dev/{run}/Trainer/model/{content}/Format-Serving"
    gcs.bucket("penguins-dev-pipeline-root").blob(f"{folder}/saved_model.pb").upload_from_string(content)
    return f"gs://penguins-dev-pipeline-root/{folder}"


class FakeModelService:
    """What Vertex keeps for one model: its versions (gca Model protos) and every request received."""

    def __init__(self):
        self.versions: list[gca_model.Model] = []
        self.requests: list[tuple[str, object]] = []
        # Set to an exception to make the next alias merge (or the next upload) fail with it.
        self.fail_merge: Exception | None = None
        self.fail_upload: Exception | None = None

    def install(self, monkeypatch):
        service = self

        class Done:
            def __init__(self, response):
                self.response = response
                self.operation = type("Operation", (), {"name": "operations/upload-1"})()

            def result(self, *args, **kwargs):
                return self.response

        def upload_model(client, request=None, **_):
            service.requests.append(("upload", request))
            if service.fail_upload is not None:
                failure, service.fail_upload = service.fail_upload, None
                raise failure
            model = gca_model.Model(request.model)
            model.name = f"{request.parent}/models/{request.model_id or request.parent_model.rsplit('/', 1)[-1]}"
            model.version_id = str(len(service.versions) + 1)
            model.version_create_time = {"seconds": 1_800_000_000 + len(service.versions)}
            service.versions.append(model)
            return Done(model_service.UploadModelResponse(model=model.name, model_version_id=model.version_id))

        def get_model(client, name=None, request=None, **_):
            version = (name or request.name).partition("@")[2]
            for model in service.versions:
                if model.version_id == version or (not version and "default" in model.version_aliases):
                    return model
            raise AssertionError(f"unexpected get_model({name})")

        def list_model_versions(client, request=None, **_):
            service.requests.append(("list", request))
            if not service.versions:
                raise exceptions.NotFound("model not found")
            return list(service.versions)

        def merge_version_aliases(client, name=None, version_aliases=None, **_):
            service.requests.append(("merge", (name, list(version_aliases))))
            if service.fail_merge is not None:
                raise service.fail_merge
            version = name.rsplit("@", 1)[1]
            for model in service.versions:
                kept = [a for a in model.version_aliases if a not in version_aliases]
                model.version_aliases = kept + (list(version_aliases) if model.version_id == version else [])

        for name, method in [
            ("upload_model", upload_model),
            ("get_model", get_model),
            ("list_model_versions", list_model_versions),
            ("merge_version_aliases", merge_version_aliases),
        ]:
            monkeypatch.setattr(ModelServiceClient, name, method)
        return self


class FakeEndpointService:
    """One endpoint as Vertex keeps it: deployed models and the traffic split, changed only by valid requests."""

    def __init__(self, endpoint: str, project_number: str = "123456789012"):
        self.endpoint = gca_endpoint.Endpoint(name=endpoint)
        self.project_number = project_number
        self.requests: list[tuple[str, object]] = []
        self._next_id = 1000
        # Set to a status message to make the next deploy's operation end in that error (nothing deployed).
        self.fail_deploy: str | None = None

    def install(self, monkeypatch):
        # The transport wraps these properties' callables at construction: the client's requests reach them.
        for name in ("get_endpoint", "deploy_model", "update_endpoint", "undeploy_model"):
            monkeypatch.setattr(EndpointServiceRestTransport, name, property(_answer(getattr(self, name))))
        return self

    def of(self, kind: str) -> list:
        return [request for k, request in self.requests if k == kind]

    def split(self) -> dict[str, int]:
        return dict(self.endpoint.traffic_split)

    def versions(self) -> dict[str, str]:
        """{deployed model id: model version} of what is deployed."""
        return {d.id: d.model_version_id for d in self.endpoint.deployed_models}

    def get_endpoint(self, request, **_):
        self.requests.append(("get", request))
        if request.name != self.endpoint.name:
            raise exceptions.NotFound(f"Endpoint {request.name} not found")
        return gca_endpoint.Endpoint(self.endpoint)

    def deploy_model(self, request, **_):
        self.requests.append(("deploy", request))
        if self.fail_deploy:
            error = status_pb2.Status(code=8, message=self.fail_deploy)
            return operations_pb2.Operation(name="operations/deploy", done=True, error=error)
        model, _, version = request.deployed_model.model.partition("@")
        deployed = gca_endpoint.DeployedModel(request.deployed_model)
        deployed.id = str(self._next_id)
        self._next_id += 1
        # Vertex answers with the project number and the version apart.
        deployed.model = model.replace(model.split("/")[1], self.project_number, 1)
        deployed.model_version_id = version
        # DeployModelRequest.traffic_split: "0" is the model being deployed; an empty map leaves the endpoint's
        # split as it is (the new deployed model then gets no traffic).
        split = {deployed.id if key == "0" else key: value for key, value in request.traffic_split.items()}
        self._check(split, [*self.versions(), deployed.id])
        self.endpoint.deployed_models.append(deployed)
        if split:
            self.endpoint.traffic_split = split
        response = any_pb2.Any()
        response.Pack(endpoint_service.DeployModelResponse(deployed_model=deployed)._pb)
        return operations_pb2.Operation(name="operations/deploy", done=True, response=response)

    def update_endpoint(self, request, **_):
        self.requests.append(("update", request))
        assert list(request.update_mask.paths) == ["traffic_split"], request.update_mask
        split = dict(request.endpoint.traffic_split)
        self._check(split, list(self.versions()))
        self.endpoint.traffic_split = split
        return gca_endpoint.Endpoint(self.endpoint)

    def undeploy_model(self, request, **_):
        self.requests.append(("undeploy", request))
        split = dict(request.traffic_split) if request.traffic_split else self.split()
        if split.get(request.deployed_model_id, 0):
            raise exceptions.FailedPrecondition(f"deployed model {request.deployed_model_id} still has traffic")
        kept = [d for d in self.endpoint.deployed_models if d.id != request.deployed_model_id]
        del self.endpoint.deployed_models[:]
        self.endpoint.deployed_models.extend(kept)
        self.endpoint.traffic_split = {k: v for k, v in split.items() if k != request.deployed_model_id}
        response = any_pb2.Any()
        response.Pack(endpoint_service.UndeployModelResponse()._pb)
        return operations_pb2.Operation(name="operations/undeploy", done=True, response=response)

    @staticmethod
    def _check(split: dict[str, int], deployed: list[str]) -> None:
        if split and (sum(split.values()) != 100 or not set(split) <= set(deployed)):
            raise exceptions.InvalidArgument(f"traffic split {split} must add up to 100 over deployed models")


def _answer(method):
    return lambda _transport: method
