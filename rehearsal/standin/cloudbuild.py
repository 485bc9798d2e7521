"""Cloud Build, API v1 (https://cloud.google.com/build/docs/api/reference/rest), from the stand-in's own state.

Triggers come from the stacks. A build is made from its trigger's config file in the checked-out repository,
which must parse as a Build message (the discovery document's Build schema), with Cloud Build's substitutions
(https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values): the config's defaults,
overridden by the trigger's, overridden by the run request's; Pub/Sub-triggered triggers bind `$(body...)`
values from the message; built-ins ($PROJECT_ID, $BUILD_ID, $COMMIT_SHA, $BRANCH_NAME, ...) are set per build.
A trigger with approval_required makes its build wait in PENDING until `approve`. Served: triggers.run, get;
builds.get, approve; operations.get. Permissions (https://cloud.google.com/build/docs/iam-roles-permissions):
running a trigger needs cloudbuild.builds.create and acting as the trigger's service account; reading a build
or trigger cloudbuild.builds.get; approving cloudbuild.builds.approve. The steps themselves run in the
driver (rehearsal/builds.py), as the build's service account.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rehearsal.standin import discovery
from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import project_target, service_account_target
from rehearsal.standin.lro import Operation, Operations
from rehearsal.standin.server import Call, Response
from rehearsal.standin.storage import rfc3339

TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1."
BUILT_INS = (
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REF_NAME",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "TRIGGER_BUILD_CONFIG_PATH",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
)
_VARIABLE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_BINDING = re.compile(r"\$\((body(?:\.[A-Za-z0-9_]+)+)\)")
APPROVAL_DECISIONS = ("DECISION_UNSPECIFIED", "APPROVED", "REJECTED")


@dataclass(frozen=True)
class Trigger:
    stack: str
    source: str  # the Terraform address, for the output
    project: str
    location: str
    id: str
    name: str
    config: str  # the config file's path in the repository
    service_account: str  # email
    substitutions: dict[str, str]
    approval_required: bool
    pubsub_topic: str | None  # projects/p/topics/t for a Pub/Sub-triggered trigger
    description: str = ""

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "resourceName": f"projects/{self.project}/locations/{self.location}/triggers/{self.id}",
            "description": self.description,
            "filename": self.config,
            "substitutions": dict(self.substitutions),
            "serviceAccount": f"projects/{self.project}/serviceAccounts/{self.service_account}",
            "approvalConfig": {"approvalRequired": self.approval_required},
        }
        if self.pubsub_topic:
            body["pubsubConfig"] = {"topic": self.pubsub_topic}
        return body


@dataclass
class Build:
    resource: dict[str, Any]
    trigger: Trigger
    operation: Operation
    started_by: str  # who ran the trigger (a member), or "push"/"pubsub"
    finished: threading.Event = field(default_factory=threading.Event)
    steps: list[dict[str, Any]] = field(default_factory=list)  # what each step did (the runner fills it)

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def status(self) -> str:
        return str(self.resource["status"])


Executor = Callable[[Build], None]
ConfigReader = Callable[[str], tuple[dict[str, Any], dict[str, str]]]  # path -> (config, source built-ins)


class CloudBuild:
    def __init__(self, numbers: dict[str, str], read_config: ConfigReader) -> None:
        self.numbers = numbers
        self.read_config = read_config
        self.executor: Executor | None = None
        self.triggers: list[Trigger] = []
        self.builds: dict[str, Build] = {}
        self.operations = Operations()
        self._lock = threading.RLock()

    def trigger(self, project: str, ref: str) -> Trigger:
        for trigger in self.triggers:
            if trigger.project == project and ref in (trigger.id, trigger.name):
                return trigger
        raise ApiError(404, f"Trigger {ref} not found in project {project}.")

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        method = call.method.id.removeprefix("cloudbuild.projects.").removeprefix("locations.")
        project = call.params.get("projectsId") or call.params.get("projectId", "")
        handlers = {
            "triggers.run": self._run,
            "triggers.get": self._trigger_get,
            "builds.get": self._build_get,
            "builds.approve": self._approve,
            "operations.get": self._operation_get,
        }
        handler = handlers.get(method)
        if handler is None:
            raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
        with self._lock:
            return handler(call, project)

    def _run(self, call: Call, project: str) -> Response:
        trigger = self.trigger(project, call.params.get("triggersId") or call.params.get("triggerId", ""))
        call.require(
            "cloudbuild.builds.create",
            project_target(project, trigger.resource()["resourceName"], "cloudbuild.googleapis.com"),
        )
        call.require("iam.serviceAccounts.actAs", service_account_target(trigger.service_account))
        body = call.body or {}
        source = body.get("source") or (body if call.method.id == "cloudbuild.projects.triggers.run" else {})
        requested = dict(source.get("substitutions") or {})
        build = self.start(trigger, requested, started_by=call.member)
        return Response(json=build.operation.resource())

    def _trigger_get(self, call: Call, project: str) -> Response:
        trigger = self.trigger(project, call.params["triggersId"])
        call.require(
            "cloudbuild.builds.get",
            project_target(project, trigger.resource()["resourceName"], "cloudbuild.googleapis.com"),
        )
        return Response(json=trigger.resource())

    def _build(self, project: str, build_id: str) -> Build:
        build = self.builds.get(build_id)
        if build is None or build.trigger.project != project:
            raise ApiError(404, f"Build {build_id} not found.")
        return build

    def _build_get(self, call: Call, project: str) -> Response:
        name = f"projects/{project}/locations/{call.params['locationsId']}/builds/{call.params['buildsId']}"
        call.require("cloudbuild.builds.get", project_target(project, name, "cloudbuild.googleapis.com"))
        return Response(json=self._build(project, call.params["buildsId"]).resource)

    def _approve(self, call: Call, project: str) -> Response:
        name = (
            f"projects/{project}/locations/{call.params.get('locationsId', 'global')}/builds/{call.params['buildsId']}"
        )
        call.require("cloudbuild.builds.approve", project_target(project, name, "cloudbuild.googleapis.com"))
        build = self._build(project, call.params["buildsId"])
        approval = build.resource.get("approval") or {}
        if approval.get("state") != "PENDING":
            raise ApiError(
                400,
                f"Build {build.id} is not pending approval (approval state {approval.get('state', 'none')}).",
                status="FAILED_PRECONDITION",
            )
        result = dict((call.body or {}).get("approvalResult") or {})
        decision = result.get("decision")
        decision = APPROVAL_DECISIONS[decision] if isinstance(decision, int) and 0 <= decision < 3 else decision
        if decision not in ("APPROVED", "REJECTED"):
            raise ApiError(400, "approval_result.decision must be APPROVED or REJECTED.")
        approval.update(
            state=decision,
            result={
                **result,
                "decision": decision,
                "approverAccount": call.email,
                "approvalTime": rfc3339(time.time()),
            },
        )
        build.resource["approval"] = approval
        if decision == "APPROVED":
            self._queue(build)
        else:
            self.finish(build, "CANCELLED", "the build was rejected by its approver")
        return Response(json=build.operation.resource())

    def _operation_get(self, call: Call, project: str) -> Response:
        name = f"projects/{project}/locations/{call.params['locationsId']}/operations/{call.params['operationsId']}"
        operation = self.operations.find(name)
        call.require(operation.permission_get, operation.target)
        return Response(json=operation.resource())

    # --- builds ----------------------------------------------------------------------------------------------

    def start(
        self, trigger: Trigger, requested: dict[str, str], started_by: str, message: dict[str, Any] | None = None
    ) -> Build:
        """A build of `trigger`, as a push, a run request or a Pub/Sub message makes one (queued, or pending
        its approval)."""
        config, source = self.read_config(trigger.config)
        discovery.check_body(_BUILD_METHOD, config, discovery.load("cloudbuild.v1"))
        build_id = str(uuid.uuid4())
        user = {**(config.get("substitutions") or {}), **trigger.substitutions, **requested}
        if message is not None:
            user = {key: _bind(value, message) for key, value in user.items()}
        built_ins = {
            "PROJECT_ID": trigger.project,
            "PROJECT_NUMBER": self.numbers[trigger.project],
            "BUILD_ID": build_id,
            "LOCATION": trigger.location,
            "TRIGGER_NAME": trigger.name,
            "TRIGGER_BUILD_CONFIG_PATH": trigger.config,
            "SERVICE_ACCOUNT_EMAIL": trigger.service_account,
            "SERVICE_ACCOUNT": f"projects/{trigger.project}/serviceAccounts/{trigger.service_account}",
            **source,
        }
        loose = (config.get("options") or {}).get("substitutionOption") == "ALLOW_LOOSE"
        values = {**built_ins, **user}
        resolved = substitute(config, values, loose)
        name = f"projects/{trigger.project}/locations/{trigger.location}/builds/{build_id}"
        resource: dict[str, Any] = {
            **{k: v for k, v in resolved.items() if k != "substitutions"},
            "id": build_id,
            "name": name,
            "projectId": trigger.project,
            "buildTriggerId": trigger.id,
            "substitutions": {**{k: v for k, v in built_ins.items() if k in source}, **user},
            "serviceAccount": built_ins["SERVICE_ACCOUNT"],
            "createTime": rfc3339(time.time()),
            "status": "QUEUED",
        }
        if trigger.approval_required:
            resource.update(status="PENDING", approval={"state": "PENDING", "config": {"approvalRequired": True}})
        parent = f"projects/{trigger.project}/locations/{trigger.location}"
        metadata = {"@type": TYPE + "BuildOperationMetadata", "build": resource}
        target = project_target(trigger.project, name, "cloudbuild.googleapis.com")
        operation = self.operations.start(
            parent, metadata, "cloudbuild.operations.get", "cloudbuild.builds.update", target, None
        )
        build = Build(resource, trigger, operation, started_by)
        with self._lock:
            self.builds[build_id] = build
        if not trigger.approval_required:
            self._queue(build)
        return build

    def _queue(self, build: Build) -> None:
        if self.executor is None:
            self.finish(build, "INTERNAL_ERROR", "no build executor")
            return
        build.resource.update(status="WORKING", startTime=rfc3339(time.time()))
        executor = self.executor
        threading.Thread(
            target=self._execute, args=(executor, build), name=f"build-{build.id[:8]}", daemon=True
        ).start()

    def _execute(self, executor: Executor, build: Build) -> None:
        try:
            executor(build)
        except Exception as err:  # The runner's own failure ends the build, saying so.
            self.finish(build, "INTERNAL_ERROR", f"{type(err).__name__}: {err}")

    def finish(self, build: Build, status: str, detail: str = "") -> None:
        with self._lock:
            build.resource.update(status=status, finishTime=rfc3339(time.time()))
            if detail:
                build.resource["statusDetail"] = detail
            build.operation.done = True
            build.operation.metadata = {**build.operation.metadata, "build": build.resource}
            if status == "SUCCESS":
                build.operation.response = {"@type": TYPE + "Build", **build.resource}
            else:
                build.operation.error = {"code": 2, "message": f"Build {status}: {detail}"}
        build.finished.set()


_BUILD_METHOD = discovery.Method("cloudbuild.v1", "config", "POST", "", re.compile(""), (), {}, "Build")


def substitute(value: Any, values: dict[str, str], loose: bool) -> Any:
    """Cloud Build's substitution of $VAR and ${VAR} in every string of the config; `$$` is a literal '$'."""
    if isinstance(value, dict):
        return {k: (v if k == "substitutions" else substitute(v, values, loose)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values, loose) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        key = match.group(2) or match.group(3)
        if key in values:
            return str(values[key])
        if loose:
            return ""
        raise ApiError(400, f'invalid build: key in the template "{key}" is not a valid built-in substitution')

    return _VARIABLE.sub(replace, value)


def _bind(value: str, message: dict[str, Any]) -> str:
    """A Pub/Sub trigger's `$(body.message.attributes.x)` bindings, read from the pushed message body."""

    def replace(match: re.Match[str]) -> str:
        found: Any = {"body": message}
        for part in match.group(1).split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return "" if found is None else (found if isinstance(found, str) else json.dumps(found))

    return _BINDING.sub(replace, value)
