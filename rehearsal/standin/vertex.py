"""Vertex AI, API v1 (https://cloud.google.com/vertex-ai/docs/reference/rest), from the stand-in's own state.

Served: pipelineJobs create/get; models upload (a long-running operation), get (also `<id>@<version>` and
`<id>@<alias>`), listVersions, mergeVersionAliases; endpoints get, deployModel, undeployModel (operations),
patch (the traffic split); operations get, wait and cancel. Names come back with the project's number, as
Vertex AI answers. Permissions (https://cloud.google.com/vertex-ai/docs/general/iam-permissions): each method
its own, plus `iam.serviceAccounts.actAs` on a PipelineJob's service account and on a deployed model's;
reading an operation needs the `get` permission of its resource. What a PipelineJob runs is not executed
here (the rehearsal runs the registry push itself); a deploy fails, as the serving container would, when the
model's artifacts are gone from Cloud Storage.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import Target, project_target, service_account_target
from rehearsal.standin.lro import Operations
from rehearsal.standin.server import Call, Response
from rehearsal.standin.storage import Storage, rfc3339

TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_JOB_ID = re.compile(r"^[a-z][a-z0-9-]{0,127}$")


@dataclass
class ModelVersion:
    version_id: str
    resource: dict[str, Any]
    aliases: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)


@dataclass
class Model:
    project: str
    location: str
    model_id: str
    versions: dict[str, ModelVersion] = field(default_factory=dict)

    def resolve(self, ref: str | None) -> ModelVersion:
        if ref is None:
            ref = "default"
        if ref in self.versions:
            return self.versions[ref]
        for version in self.versions.values():
            if ref in version.aliases:
                return version
        raise ApiError(404, f"Model version or alias {ref!r} of model {self.model_id} not found.")


@dataclass
class Endpoint:
    project: str
    location: str
    endpoint_id: str
    display_name: str
    deployed: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    source: str = ""
    # Its predict_request_response_logging_config (rehearsal/standin/request_logging.py), None: no logging.
    logging: Any = None


class Vertex:
    def __init__(self, storage: Storage, numbers: dict[str, str]) -> None:
        self.storage = storage
        self.numbers = numbers  # project id -> number
        self.jobs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.job_callers: dict[str, str] = {}
        self.models: dict[tuple[str, str, str], Model] = {}
        self.endpoints: dict[tuple[str, str, str], Endpoint] = {}
        self.operations = Operations()
        self._lock = threading.RLock()
        self._ids = 0

    # --- names ----------------------------------------------------------------------------------------------

    def project_id(self, ref: str) -> str:
        for project, number in self.numbers.items():
            if ref in (project, number):
                return project
        raise ApiError(404, f"Project {ref!r} not found (the stand-in knows {', '.join(self.numbers)}).")

    def _prefix(self, project: str, location: str) -> str:
        return f"projects/{self.numbers[project]}/locations/{location}"

    def _check_location(self, call: Call, location: str) -> None:
        region = call.host.removesuffix("-aiplatform.googleapis.com")
        if region != location:
            raise ApiError(400, f"Location {location} does not match the regional endpoint {call.host}.")

    def _target(self, project: str, name: str) -> Target:
        return project_target(project, name, "aiplatform.googleapis.com")

    # --- dispatch -------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        method = call.method.id.removeprefix("aiplatform.projects.locations.")
        project = self.project_id(call.params["projectsId"])
        location = call.params["locationsId"]
        self._check_location(call, location)
        handlers = {
            "pipelineJobs.create": self._job_create,
            "pipelineJobs.get": self._job_get,
            "models.upload": self._upload,
            "models.get": self._model_get,
            "models.listVersions": self._list_versions,
            "models.mergeVersionAliases": self._merge_aliases,
            "endpoints.get": self._endpoint_get,
            "endpoints.deployModel": self._deploy,
            "endpoints.undeployModel": self._undeploy,
            "endpoints.patch": self._endpoint_patch,
        }
        with self._lock:
            if method.endswith(("operations.get", "operations.wait", "operations.cancel")):
                return self._operation(call, project, method.rsplit(".", 1)[1])
            handler = handlers.get(method)
            if handler is None:
                raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
            return handler(call, project, location)

    # --- pipeline jobs -----------------------------------------------------------------------------------------

    def _job_create(self, call: Call, project: str, location: str) -> Response:
        parent = f"projects/{project}/locations/{location}"
        call.require("aiplatform.pipelineJobs.create", self._target(project, parent))
        job = dict(call.body or {})
        job_id = call.query.get("pipelineJobId") or f"job-{int(time.time() * 1000)}"
        if not _JOB_ID.match(job_id):
            raise ApiError(400, f"pipelineJobId {job_id!r} is invalid: [a-z][a-z0-9-]{{0,127}}")
        _check_labels(job.get("labels") or {})
        _check_parameters(job)
        if job.get("serviceAccount"):
            call.require("iam.serviceAccounts.actAs", service_account_target(job["serviceAccount"]))
        key = (project, location, job_id)
        name = f"{self._prefix(project, location)}/pipelineJobs/{job_id}"
        if key in self.jobs:
            raise ApiError(409, f"PipelineJob {name} already exists.")
        now = rfc3339(time.time())
        job.update(name=name, state="PIPELINE_STATE_PENDING", createTime=now, updateTime=now)
        self.jobs[key] = job
        self.job_callers[name] = call.member
        return Response(json=job)

    def _job_get(self, call: Call, project: str, location: str) -> Response:
        job_id = call.params["pipelineJobsId"]
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job_id}"
        call.require("aiplatform.pipelineJobs.get", self._target(project, name))
        job = self.jobs.get((project, location, job_id))
        if job is None:
            raise ApiError(404, f"PipelineJob {name} not found.")
        return Response(json=job)

    # --- models ------------------------------------------------------------------------------------------------

    def _split(self, ref: str) -> tuple[str, str | None]:
        model_id, _, version = ref.partition("@")
        return model_id, version or None

    def _model(self, project: str, location: str, model_id: str) -> Model:
        model = self.models.get((project, location, model_id))
        if model is None:
            name = f"{self._prefix(project, location)}/models/{model_id}"
            raise ApiError(404, f"Model {name} not found.")
        return model

    def model_resource(self, model: Model, version: ModelVersion) -> dict[str, Any]:
        resource = dict(version.resource)
        resource.update(
            name=f"{self._prefix(model.project, model.location)}/models/{model.model_id}",
            versionId=version.version_id,
            versionAliases=list(version.aliases),
            versionCreateTime=rfc3339(version.created),
            versionUpdateTime=rfc3339(version.created),
            createTime=rfc3339(min(v.created for v in model.versions.values())),
            updateTime=rfc3339(version.created),
            etag=f"v{version.version_id}-{len(version.aliases)}",
        )
        deployed = [
            {"endpoint": f"{self._prefix(e.project, e.location)}/endpoints/{e.endpoint_id}", "deployedModelId": d["id"]}
            for e in self.endpoints.values()
            for d in e.deployed.values()
            if d["model"].endswith(f"/models/{model.model_id}") and d.get("modelVersionId") == version.version_id
        ]
        if deployed:
            resource["deployedModels"] = deployed
        return resource

    def _upload(self, call: Call, project: str, location: str) -> Response:
        parent = f"projects/{project}/locations/{location}"
        call.require("aiplatform.models.upload", self._target(project, parent))
        body = call.body or {}
        spec = dict(body.get("model") or {})
        if not spec.get("displayName"):
            raise ApiError(400, "model.display_name is required.")
        _check_labels(spec.get("labels") or {})
        if body.get("serviceAccount"):
            call.require("iam.serviceAccounts.actAs", service_account_target(body["serviceAccount"]))
        parent_model = body.get("parentModel")
        if parent_model:
            model = self._model(project, location, parent_model.rsplit("/", 1)[-1])
        else:
            self._ids += 1
            model_id = body.get("modelId") or str(7000000000000000000 + self._ids)
            if (project, location, model_id) in self.models:
                raise ApiError(409, f"Model {model_id} already exists; upload a version with parent_model.")
            model = Model(project, location, model_id)
        name = f"{self._prefix(project, location)}/models/{model.model_id}"

        def work() -> dict[str, Any]:
            self.models[(project, location, model.model_id)] = model
            version_id = str(len(model.versions) + 1)
            aliases = [a for a in spec.pop("versionAliases", []) or [] if not a.startswith("-")]
            if not model.versions and "default" not in aliases:
                aliases = ["default", *aliases]
            for other in model.versions.values():
                other.aliases = [a for a in other.aliases if a not in aliases]
            model.versions[version_id] = ModelVersion(version_id, spec, aliases)
            return {"@type": TYPE + "UploadModelResponse", "model": name, "modelVersionId": version_id}

        metadata = {"@type": TYPE + "UploadModelOperationMetadata", "genericMetadata": _generic()}
        operation = self.operations.start(
            name, metadata, "aiplatform.models.get", "aiplatform.models.upload", self._target(project, name), work
        )
        return Response(json=operation.resource())

    def _model_get(self, call: Call, project: str, location: str) -> Response:
        model_id, ref = self._split(call.params["modelsId"])
        name = f"projects/{project}/locations/{location}/models/{model_id}"
        call.require("aiplatform.models.get", self._target(project, name))
        model = self._model(project, location, model_id)
        return Response(json=self.model_resource(model, model.resolve(ref)))

    def _list_versions(self, call: Call, project: str, location: str) -> Response:
        model_id, _ = self._split(call.params["modelsId"])
        name = f"projects/{project}/locations/{location}/models/{model_id}"
        call.require("aiplatform.models.list", self._target(project, name))
        model = self._model(project, location, model_id)
        versions = sorted(model.versions.values(), key=lambda v: int(v.version_id))
        start = int(call.query.get("pageToken") or 0)
        size = int(call.query.get("pageSize") or 100)
        body: dict[str, Any] = {"models": [self.model_resource(model, v) for v in versions[start : start + size]]}
        if start + size < len(versions):
            body["nextPageToken"] = str(start + size)
        return Response(json=body)

    def _merge_aliases(self, call: Call, project: str, location: str) -> Response:
        model_id, ref = self._split(call.params["modelsId"])
        name = f"projects/{project}/locations/{location}/models/{model_id}"
        call.require("aiplatform.models.update", self._target(project, name))
        if ref is None:
            raise ApiError(400, "MergeVersionAliases needs a model version: name must be <model>@<version>.")
        model = self._model(project, location, model_id)
        version = model.resolve(ref)
        for alias in (call.body or {}).get("versionAliases", []):
            if alias.startswith("-"):
                if alias[1:] == "default":
                    raise ApiError(400, "The default alias cannot be removed; move it to another version.")
                version.aliases = [a for a in version.aliases if a != alias[1:]]
                continue
            if not re.fullmatch(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]", alias):
                raise ApiError(400, f"Version alias {alias!r} is invalid.")
            for other in model.versions.values():
                other.aliases = [a for a in other.aliases if a != alias]
            version.aliases.append(alias)
        return Response(json=self.model_resource(model, version))

    # --- endpoints -------------------------------------------------------------------------------------------

    def _endpoint(self, project: str, location: str, endpoint_id: str) -> Endpoint:
        endpoint = self.endpoints.get((project, location, endpoint_id))
        if endpoint is None:
            raise ApiError(404, f"Endpoint projects/{project}/locations/{location}/endpoints/{endpoint_id} not found.")
        return endpoint

    def endpoint_resource(self, endpoint: Endpoint) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"{self._prefix(endpoint.project, endpoint.location)}/endpoints/{endpoint.endpoint_id}",
            "displayName": endpoint.display_name,
            "deployedModels": list(endpoint.deployed.values()),
            "etag": f"e{len(endpoint.deployed)}-{sum(endpoint.traffic.values())}",
        }
        if endpoint.traffic:
            body["trafficSplit"] = dict(endpoint.traffic)
        return body

    def _endpoint_get(self, call: Call, project: str, location: str) -> Response:
        name = f"projects/{project}/locations/{location}/endpoints/{call.params['endpointsId']}"
        call.require("aiplatform.endpoints.get", self._target(project, name))
        return Response(json=self.endpoint_resource(self._endpoint(project, location, call.params["endpointsId"])))

    def _deploy(self, call: Call, project: str, location: str) -> Response:
        endpoint = self._endpoint(project, location, call.params["endpointsId"])
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint.endpoint_id}"
        call.require("aiplatform.endpoints.deploy", self._target(project, name))
        spec = dict((call.body or {}).get("deployedModel") or {})
        model_ref = str(spec.get("model", ""))
        match = re.fullmatch(r"projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@(.+))?", model_ref)
        if not match:
            raise ApiError(400, f"deployed_model.model {model_ref!r} is not a model resource name.")
        model_project = self.project_id(match.group(1))
        model_name = f"projects/{model_project}/locations/{match.group(2)}/models/{match.group(3)}"
        call.require("aiplatform.models.deploy", self._target(model_project, model_name))
        if spec.get("serviceAccount"):
            call.require("iam.serviceAccounts.actAs", service_account_target(spec["serviceAccount"]))
        model = self._model(model_project, match.group(2), match.group(3))
        version = model.resolve(match.group(4))
        traffic = dict((call.body or {}).get("trafficSplit") or {})

        def work() -> dict[str, Any]:
            artifacts = str(version.resource.get("artifactUri", ""))
            if artifacts.startswith("gs://") and not self._artifacts_exist(artifacts):
                raise ApiError(
                    412,
                    f"Model server never became ready: the model's artifacts at {artifacts} are gone "
                    "(the serving container found nothing to load).",
                )
            self._ids += 1
            deployed_id = str(1000000000000000000 + self._ids)
            deployed = {
                **spec,
                "id": deployed_id,
                "model": f"{self._prefix(model.project, model.location)}/models/{model.model_id}",
                "modelVersionId": version.version_id,
                "createTime": rfc3339(time.time()),
            }
            endpoint.deployed[deployed_id] = deployed
            split = {deployed_id if k == "0" else k: int(v) for k, v in traffic.items()} or {deployed_id: 100}
            _check_split(split, endpoint)
            endpoint.traffic = {k: v for k, v in split.items() if v}
            return {"@type": TYPE + "DeployModelResponse", "deployedModel": deployed}

        metadata = {"@type": TYPE + "DeployModelOperationMetadata", "genericMetadata": _generic()}
        operation = self.operations.start(
            name, metadata, "aiplatform.endpoints.get", "aiplatform.endpoints.deploy", self._target(project, name), work
        )
        return Response(json=operation.resource())

    def _artifacts_exist(self, uri: str) -> bool:
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        return bucket in self.storage.buckets and bool(self.storage.names(bucket, prefix.rstrip("/") + "/"))

    def _undeploy(self, call: Call, project: str, location: str) -> Response:
        endpoint = self._endpoint(project, location, call.params["endpointsId"])
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint.endpoint_id}"
        call.require("aiplatform.endpoints.undeploy", self._target(project, name))
        deployed_id = str((call.body or {}).get("deployedModelId", ""))
        if deployed_id not in endpoint.deployed:
            raise ApiError(404, f"Deployed model {deployed_id} not found on endpoint {name}.")
        traffic = {k: int(v) for k, v in ((call.body or {}).get("trafficSplit") or {}).items()}
        if not traffic and endpoint.traffic.get(deployed_id):
            raise ApiError(400, f"Deployed model {deployed_id} has traffic; give a traffic split without it.")

        def work() -> dict[str, Any]:
            del endpoint.deployed[deployed_id]
            if traffic:
                _check_split(traffic, endpoint)
                endpoint.traffic = {k: v for k, v in traffic.items() if v}
            else:
                endpoint.traffic.pop(deployed_id, None)
            return {"@type": TYPE + "UndeployModelResponse"}

        metadata = {"@type": TYPE + "UndeployModelOperationMetadata", "genericMetadata": _generic()}
        operation = self.operations.start(
            name,
            metadata,
            "aiplatform.endpoints.get",
            "aiplatform.endpoints.undeploy",
            self._target(project, name),
            work,
        )
        return Response(json=operation.resource())

    def _endpoint_patch(self, call: Call, project: str, location: str) -> Response:
        endpoint = self._endpoint(project, location, call.params["endpointsId"])
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint.endpoint_id}"
        call.require("aiplatform.endpoints.update", self._target(project, name))
        mask = [f.strip() for f in call.query.get("updateMask", "").split(",") if f.strip()]
        body = call.body or {}
        if not mask:
            raise ApiError(400, "update_mask is required.")
        for field_name in mask:
            if field_name in ("traffic_split", "trafficSplit"):
                split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
                _check_split(split, endpoint)
                endpoint.traffic = {k: v for k, v in split.items() if v}
            elif field_name in ("display_name", "displayName"):
                endpoint.display_name = body.get("displayName", endpoint.display_name)
            else:
                raise ApiError(400, f"update_mask path {field_name!r} is not modelled by the stand-in.")
        return Response(json=self.endpoint_resource(endpoint))

    # --- operations ----------------------------------------------------------------------------------------------

    def _operation(self, call: Call, project: str, verb: str) -> Response:
        name_keys = [k for k in call.params if k not in ("projectsId", "locationsId", "operationsId")]
        parts = [f"projects/{self.numbers[project]}", f"locations/{call.params['locationsId']}"]
        for key in name_keys:
            parts.append(f"{key.removesuffix('Id')}/{call.params[key]}")
        name = "/".join([*parts, f"operations/{call.params['operationsId']}"])
        # Vertex names operations with the project's number; the stand-in's endpoints started theirs under the id.
        by_id = name.replace(f"projects/{self.numbers[project]}/", f"projects/{project}/", 1)
        operation = self.operations.find(by_id if by_id in self.operations.by_name else name)
        call.require(operation.permission_cancel if verb == "cancel" else operation.permission_get, operation.target)
        if verb == "cancel":
            if not operation.done:
                operation.fail(1, "CANCELLED: the operation was cancelled.")
            return Response(json={})
        operation.complete()
        return Response(json=operation.resource())


def _generic() -> dict[str, str]:
    now = rfc3339(time.time())
    return {"createTime": now, "updateTime": now}


def _check_labels(labels: dict[str, str]) -> None:
    for key, value in labels.items():
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) or not _LABEL.match(str(value)):
            raise ApiError(400, f"Label {key}={value!r} is invalid: lowercase letters, digits, '_' and '-', <= 63.")


def _check_split(split: dict[str, int], endpoint: Endpoint) -> None:
    unknown = [k for k in split if k not in endpoint.deployed]
    if unknown:
        raise ApiError(400, f"Traffic split names deployed model(s) {unknown} that are not on the endpoint.")
    if split and sum(split.values()) != 100:
        raise ApiError(400, f"Traffic split {split} does not sum to 100.")


def _check_parameters(job: dict[str, Any]) -> None:
    """Runtime parameters must be inputs of the pipeline, and every input without a default must be given."""
    spec = job.get("pipelineSpec") or {}
    definitions = (((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters")) or {}
    runtime = job.get("runtimeConfig") or {}
    # KFP's IR carries values as parameterValues; TFX's older schema as parameters ({"intValue": ...}).
    values = {**(runtime.get("parameters") or {}), **(runtime.get("parameterValues") or {})}
    unknown = sorted(set(values) - set(definitions))
    if unknown:
        raise ApiError(
            400, f"The pipeline parameter(s) {', '.join(unknown)} are not found in the pipeline job input definitions."
        )
    missing = sorted(
        name
        for name, d in definitions.items()
        if name not in values and "defaultValue" not in d and not d.get("isOptional")
    )
    if missing:
        raise ApiError(400, f"The pipeline parameter(s) {', '.join(missing)} have no value and no default.")
    if not str(runtime.get("gcsOutputDirectory", "")).startswith("gs://"):
        raise ApiError(400, "runtime_config.gcs_output_directory (the pipeline root) must be a gs:// URI.")
