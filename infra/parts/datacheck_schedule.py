"""A pipeline's scheduled builds: the Cloud Scheduler job (`<prefix>-<pipeline>-schedule-<workflow>`) that runs one
of the pipeline's manual build triggers (`<prefix>-<pipeline>-<workflow>`, _PIPELINE set) on a schedule of the
environment file. Two workflows are scheduled so (SCHEDULED):

    datacheck   the new-data check, on the pipeline's data.schedule (ci/cloudbuild/datacheck.yaml)
    monitor     the monitor, on the pipeline's monitoring.schedule (ci/cloudbuild/monitor.yaml)

Both need TensorFlow (the champion's evaluation, TFDV) and the release code, which the trigger function must not
carry, so the Scheduler job starts a build instead: an HTTP target calling Cloud Build's
projects.locations.triggers.run with an OAuth token of the scheduler's own account. The triggers come from the
routing table like every other (infra/parts/build_triggers.py) and run as the workflow's own account (`datacheck`,
`monitor`); the access table lets the scheduler create builds (a custom role holding only
cloudbuild.builds.create: no predefined role is narrower) and act as the account of each workflow it schedules,
only where a pipeline schedules it.

Approval: prod triggers wait for an approver (gcp.ci.require_approval), but a scheduled build nobody approves
never runs, so both routes are exempt (ci/routing.py says why; infra/checks.py allows exactly that). The check
only ingests data and submits training, the monitor only reads, reports, alerts and at most requests training; a
trained model reaches serving only through `promote`, which stays gated (and prod sets release.auto_promote: false).
"""

from __future__ import annotations

from collections.abc import Callable

from cdktf import Fn
from cdktf_cdktf_provider_google.cloudbuild_trigger import CloudbuildTrigger
from constructs import Construct

from contracts.environment import CronSchedule, EnvironmentConfig, Gcp
from infra.parts.scheduler import oauth_post_job
from infra.parts.service_accounts import ServiceAccounts

# The scheduled workflows, each with the schedule of the pipeline's settings that starts it (None: by hand only).
SCHEDULED: dict[str, Callable[[EnvironmentConfig], CronSchedule | None]] = {
    "datacheck": lambda each: each.data.schedule,
    "monitor": lambda each: each.monitoring.schedule,
}


def run_uri(gcp: Gcp, trigger_id: str) -> str:
    """The Cloud Build API call that runs a trigger of the environment's region."""
    return (
        f"https://cloudbuild.googleapis.com/v1/projects/{gcp.project}/locations/{gcp.region}/triggers/{trigger_id}:run"
    )


class ScheduledBuild(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        gcp: Gcp,
        pipeline: str,
        workflow: str,
        schedule: CronSchedule,
        trigger: CloudbuildTrigger,
        accounts: ServiceAccounts,
    ) -> None:
        super().__init__(scope, id_)
        body = {"projectId": gcp.project, "triggerId": trigger.trigger_id}
        self.job = oauth_post_job(
            self,
            "job",
            gcp,
            accounts,
            name=gcp.pipeline_resource(pipeline, f"schedule-{workflow}"),
            description=f"Runs the {pipeline} {workflow} build ({schedule.cron}, {schedule.time_zone})",
            cron=schedule.cron,
            time_zone=schedule.time_zone,
            uri=run_uri(gcp, trigger.trigger_id),
            # Terraform resolves the trigger id first, then encodes.
            body=Fn.base64encode(Fn.jsonencode(body)),
            oauth_scope="https://www.googleapis.com/auth/cloud-platform",
        )
