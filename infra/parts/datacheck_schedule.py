"""A pipeline's scheduled new-data check: the Cloud Scheduler job (`<prefix>-<pipeline>-schedule-datacheck`)
that runs the pipeline's manual `datacheck` build trigger (`<prefix>-<pipeline>-datacheck`, _PIPELINE set).

The check needs TensorFlow (champion evaluation) and the release code, which the trigger function must not
carry, so the Scheduler job starts a build instead: an HTTP target calling Cloud Build's
projects.locations.triggers.run with an OAuth token of the scheduler's own account. The trigger comes from
the routing table like every other (infra/parts/build_triggers.py) and runs as the `datacheck` account; the
access table lets the scheduler create builds (a custom role holding only cloudbuild.builds.create: no
predefined role is narrower) and act as the datacheck account, with data.schedule only.

Approval: prod triggers wait for an approver (gcp.ci.require_approval), but a scheduled build nobody approves
never runs, so the datacheck route is exempt (ci/routing.py says why; infra/checks.py allows exactly that).
The check only ingests data and submits training; a trained model reaches serving only through `promote`,
which stays gated (and prod sets release.auto_promote: false).
"""

from __future__ import annotations

from cdktf import Fn
from cdktf_cdktf_provider_google.cloudbuild_trigger import CloudbuildTrigger
from constructs import Construct

from contracts.environment import DataSchedule, Gcp
from infra.parts.scheduler import oauth_post_job
from infra.parts.service_accounts import ServiceAccounts


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
        gcp: Gcp,
        pipeline: str,
        schedule: DataSchedule,
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
            name=gcp.pipeline_resource(pipeline, "schedule-datacheck"),
            description=f"Runs the {pipeline} datacheck build ({schedule.cron}, {schedule.time_zone})",
            cron=schedule.cron,
            time_zone=schedule.time_zone,
            uri=run_uri(gcp, trigger.trigger_id),
            # Terraform resolves the trigger id first, then encodes.
            body=Fn.base64encode(Fn.jsonencode(body)),
            oauth_scope="https://www.googleapis.com/auth/cloud-platform",
        )
