"""The scheduled new-data check: the manual `datacheck` Cloud Build trigger and the Scheduler job that runs it.

The check needs TensorFlow (champion evaluation) and the release code, which the trigger function must not
carry, so the Scheduler job starts a build instead: an HTTP target calling Cloud Build's
projects.locations.triggers.run with an OAuth token of the scheduler's own account. That account gets a
custom role holding only cloudbuild.builds.create (no predefined role is narrower), and actAs on the CI
account the build runs as.

Approval: prod triggers wait for an approver (gcp.ci.require_approval), but a scheduled build nobody approves
never runs, so this trigger is exempt (infra/checks.py knows it by its config file). The check only ingests
data and submits training; a trained model reaches serving only through `promote`, which stays gated (and
prod sets release.auto_promote: false).
"""

from __future__ import annotations

from cdktf import Fn
from cdktf_cdktf_provider_google.cloudbuild_trigger import CloudbuildTrigger
from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from ci.routing import Route
from contracts.environment import DataSchedule, EnvironmentConfig, Gcp
from infra.parts.buckets import Buckets
from infra.parts.build_triggers import manual_source, substitutions
from infra.parts.scheduler import oauth_post_job
from infra.parts.service_accounts import ServiceAccounts

RUNNER_PERMISSIONS = ("cloudbuild.builds.create",)


def run_uri(gcp: Gcp, trigger_id: str) -> str:
    """The Cloud Build API call that runs a trigger of the environment's region."""
    return (
        f"https://cloudbuild.googleapis.com/v1/projects/{gcp.project}/locations/{gcp.region}/triggers/{trigger_id}:run"
    )


class DataCheckSchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        route: Route,
        schedule: DataSchedule,
        accounts: ServiceAccounts,
        buckets: Buckets,
    ) -> None:
        super().__init__(scope, id_)
        self.trigger = CloudbuildTrigger(
            self,
            "trigger",
            project=gcp.project,
            location=gcp.region,
            name=gcp.name(route.workflow),
            description=route.description,
            **manual_source(gcp, route),  # type: ignore[arg-type]
            service_account=accounts.accounts["ci"].id,
            substitutions=substitutions(config, gcp, buckets.name("build-logs"), route),
            # Never waits for an approver: the route says why (ci/routing.py: approval_exempt).
            approval_config={"approval_required": gcp.ci.require_approval and not route.approval_exempt},
        )
        role = ProjectIamCustomRole(
            self,
            "runner-role",
            project=gcp.project,
            role_id=gcp.role_id("datacheck-runner"),
            title="Data check build runner",
            description="Starts Cloud Build builds: the scheduled data check's trigger run",
            permissions=list(RUNNER_PERMISSIONS),
        )
        ProjectIamMember(
            self, "scheduler-runs-builds", project=gcp.project, role=role.name, member=accounts.member("scheduler")
        )
        ServiceAccountIamMember(
            self,
            "scheduler-acts-as-ci",
            service_account_id=accounts.accounts["ci"].name,
            role="roles/iam.serviceAccountUser",
            member=accounts.member("scheduler"),
        )
        body = {"projectId": gcp.project, "triggerId": self.trigger.trigger_id}
        self.job = oauth_post_job(
            self,
            "job",
            gcp,
            accounts,
            name=gcp.name("schedule-datacheck"),
            description=f"Runs the datacheck build ({schedule.cron}, {schedule.time_zone})",
            cron=schedule.cron,
            time_zone=schedule.time_zone,
            uri=run_uri(gcp, self.trigger.trigger_id),
            # Terraform resolves the trigger id first, then encodes.
            body=Fn.base64encode(Fn.jsonencode(body)),
            oauth_scope="https://www.googleapis.com/auth/cloud-platform",
        )
