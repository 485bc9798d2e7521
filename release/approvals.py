"""Prod promotions as approval-gated Cloud Build builds: request one, approve or reject it, check it in its step.

Where an environment on Google Cloud promotes only with an approval (release.auto_promote false), `models
promote` does not move the alias itself: it runs the pipeline's `promote` trigger (<prefix>-<pipeline>-promote,
ci/cloudbuild/promote.yaml, provisioned by infra with approval_required from gcp.ci.require_approval) with the
action, version, who and why as substitutions, and prints the build id. An approver
(roles/cloudbuild.builds.approver) approves or rejects it with `models approve BUILD_ID [--reject]`; Cloud Build
records the decision, the approver's account and the comment on the build. The approved build's step runs
`models promote ... --build $BUILD_ID`, which reads that record back (approved, still running, from the
pipeline's promote trigger, for this very action and version) and records the approver as `approved_by` in the
alias history.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ci.routing import trigger_kind
from contracts.environment import Gcp
from contracts.google_apis import CLOUD_BUILD_HOST, TRANSPORT, client_options
from contracts.registry import NotPromotableError, RegistryError

WORKFLOW = "promote"
Action = Literal["promote", "rollback"]


@dataclass(frozen=True)
class ApprovedMove:
    """What an approved promote build asks for, and who approved it (as Cloud Build recorded it)."""

    action: Action
    version: str
    by: str
    reason: str
    approved_by: str


def client(credentials: Any = None) -> Any:
    from google.cloud.devtools.cloudbuild_v1 import CloudBuildClient

    return CloudBuildClient(
        credentials=credentials, transport=TRANSPORT, client_options=client_options(CLOUD_BUILD_HOST)
    )


@contextmanager
def _calling(what: str) -> Iterator[None]:
    """A refused Cloud Build call as a RegistryError naming it (permission, unknown build or trigger, ...)."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.GoogleAPICallError as err:
        raise RegistryError(f"Cloud Build refused {what}: {err.message}; nothing changed") from err


def trigger_id(gcp: Gcp, pipeline: str) -> str:
    """The pipeline's promote trigger's name, <prefix>-<pipeline>-promote (one per pipeline, like its model)."""
    return gcp.name(trigger_kind(WORKFLOW, pipeline))


def trigger_name(gcp: Gcp, pipeline: str) -> str:
    """The pipeline's regional promote trigger infra provisions; the API takes its name for its id."""
    return f"projects/{gcp.project}/locations/{gcp.region}/triggers/{trigger_id(gcp, pipeline)}"


def build_name(gcp: Gcp, build_id: str) -> str:
    if not build_id or "/" in build_id:
        raise RegistryError(f"build id {build_id!r}: expected the id `models promote` printed (no slashes)")
    return f"projects/{gcp.project}/locations/{gcp.region}/builds/{build_id}"


def request_move(
    cloud_build: Any, gcp: Gcp, pipeline: str, action: Action, version: str, *, by: str, reason: str
) -> str:
    """Start the pipeline's promote trigger for this move; returns the build id (the build waits for its approval)."""
    from google.cloud.devtools.cloudbuild_v1 import RepoSource, RunBuildTriggerRequest

    substitutions = {"_ACTION": action, "_VERSION": version, "_BY": by, "_REASON": reason}
    request = RunBuildTriggerRequest(
        # The name alone: with project_id and trigger_id set, the client picks the global trigger's route
        # (projects/*/triggers/*:run) and misses this regional trigger.
        name=trigger_name(gcp, pipeline),
        # No branch: the trigger's own source_to_build (the CI branch) is what runs.
        source=RepoSource(project_id=gcp.project, substitutions=substitutions),
    )
    with _calling(f"to run {trigger_id(gcp, pipeline)}"):
        operation = cloud_build.run_build_trigger(request=request)
    # Not operation.result(): that waits for the build to finish, and this one waits for a person first.
    return str(operation.metadata.build.id)


def decide(cloud_build: Any, gcp: Gcp, build_id: str, *, approve: bool, comment: str) -> None:
    """Approve or reject a pending promote build; Cloud Build records the decision, the caller and the comment."""
    from google.cloud.devtools.cloudbuild_v1 import ApprovalResult, ApproveBuildRequest

    decision = ApprovalResult.Decision.APPROVED if approve else ApprovalResult.Decision.REJECTED
    request = ApproveBuildRequest(
        name=build_name(gcp, build_id), approval_result=ApprovalResult(decision=decision, comment=comment)
    )
    # The returned operation follows the whole build once approved: not waited for.
    with _calling(f"the decision on build {build_id}"):
        cloud_build.approve_build(request=request)


def approved_move(
    cloud_build: Any, gcp: Gcp, pipeline: str, build_id: str, action: Action, version: str
) -> ApprovedMove:
    """The approved request of running build `build_id`, checked against what this step was asked to do (and
    started by `pipeline`'s promote trigger: another pipeline's approval cannot move this one's model)."""
    from google.cloud.devtools.cloudbuild_v1 import ApprovalResult, Build, BuildApproval

    with _calling(f"to read build {build_id}"):
        build = cloud_build.get_build(name=build_name(gcp, build_id))
        trigger = cloud_build.get_build_trigger(name=trigger_name(gcp, pipeline))
    if build.build_trigger_id != trigger.id:
        raise NotPromotableError(f"build {build_id} was not started by the {trigger_id(gcp, pipeline)} trigger")
    approval = build.approval
    approved = (
        approval.state == BuildApproval.State.APPROVED
        and approval.result.decision == ApprovalResult.Decision.APPROVED
        and approval.result.approver_account
    )
    if not approved:
        state = BuildApproval.State(approval.state).name
        raise NotPromotableError(f"build {build_id} has no recorded approval (state {state})")
    if build.status != Build.Status.WORKING:
        # A finished build's approval was spent on that build: it cannot approve a second move.
        status = Build.Status(build.status).name
        raise NotPromotableError(f"build {build_id} is {status}, not running: its approval is spent")
    subs = build.substitutions
    if (subs.get("_ACTION"), subs.get("_VERSION")) != (action, version):
        raise NotPromotableError(
            f"build {build_id} approved {subs.get('_ACTION')} {subs.get('_VERSION')}, not {action} {version}"
        )
    return ApprovedMove(
        action=action,
        version=version,
        by=subs.get("_BY", "") or "unknown",
        reason=subs.get("_REASON", "") or "approved build",
        approved_by=approval.result.approver_account,
    )
