"""One service account per role, with the project-level roles that cannot be narrowed to a resource.

Resource-level grants (a bucket, a repository, a topic) live with the construct that owns the resource; this
module holds only what must be granted on the project, and the one impersonation the design needs: CI and the
trigger function act as the pipeline account to submit Vertex runs, so `roles/iam.serviceAccountUser` is
granted on that account only, never on the project (and to the pipeline account itself where the Trainer
runs as a Vertex AI custom job, which runs as it). No primitive role (owner, editor, viewer) anywhere:
infra/checks.py fails the build if one appears.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from contracts.environment import Gcp

ROLES = ("ci", "pipeline", "trigger", "scheduler")

DESCRIPTIONS = {
    "ci": "Cloud Build: tests, image build, compile, publish, submit; read-only for the infra plan",
    "pipeline": "Vertex AI Pipelines runs as this account",
    "trigger": "The trigger Cloud Function: runtime identity and Eventarc trigger identity",
    "scheduler": "Cloud Scheduler: publishes scheduled TriggerMessages to the trigger topic",
}

# Read-only roles that let `terraform plan` refresh every resource type the stack declares (plan only: CI
# never applies). Predefined viewer roles per service instead of the primitive roles/viewer.
PLAN_READ_ROLES = (
    "roles/iam.securityReviewer",  # every IAM policy
    "roles/browser",  # the project itself (google_project)
    "roles/iam.serviceAccountViewer",
    "roles/serviceusage.serviceUsageViewer",
    "roles/storage.bucketViewer",
    "roles/artifactregistry.reader",
    "roles/pubsub.viewer",
    "roles/cloudfunctions.viewer",
    "roles/run.viewer",
    "roles/eventarc.viewer",
    "roles/cloudscheduler.viewer",
    "roles/cloudbuild.builds.viewer",
    "roles/monitoring.viewer",
)

PROJECT_ROLES: dict[str, tuple[str, ...]] = {
    "ci": ("roles/logging.logWriter", "roles/aiplatform.user", *PLAN_READ_ROLES),
    "pipeline": ("roles/logging.logWriter", "roles/aiplatform.user"),
    # eventReceiver exists only at project level: Eventarc checks it on the project.
    "trigger": ("roles/logging.logWriter", "roles/aiplatform.user", "roles/eventarc.eventReceiver"),
    "scheduler": (),
}

# Who may act as the pipeline account (to start Vertex runs as it).
PIPELINE_IMPERSONATORS = ("ci", "trigger")
# With gcp.training on Vertex AI Training, the Trainer's step starts a custom job that runs as the pipeline
# account: creating it needs actAs on that account, so the pipeline account acts as itself (and nothing else).


def pipeline_impersonators(gcp: Gcp) -> tuple[str, ...]:
    return PIPELINE_IMPERSONATORS + (("pipeline",) if gcp.training.on_vertex else ())


class ServiceAccounts(Construct):
    """The four accounts (`<prefix>-<role>`), their project roles, and actAs on the pipeline account only."""

    def __init__(self, scope: Construct, id_: str, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.accounts = {
            role: ServiceAccount(
                self,
                role,
                project=gcp.project,
                account_id=gcp.name(role),
                display_name=gcp.name(role),
                description=DESCRIPTIONS[role],
            )
            for role in ROLES
        }
        for role, project_roles in PROJECT_ROLES.items():
            for project_role in project_roles:
                ProjectIamMember(
                    self,
                    f"{role}-{project_role.removeprefix('roles/').replace('.', '-')}",
                    project=gcp.project,
                    role=project_role,
                    member=self.member(role),
                )
        for role in pipeline_impersonators(gcp):
            ServiceAccountIamMember(
                self,
                f"{role}-acts-as-pipeline",
                service_account_id=self.accounts["pipeline"].name,
                role="roles/iam.serviceAccountUser",
                member=self.member(role),
            )

    def email(self, role: str) -> str:
        return self.accounts[role].email

    def member(self, role: str) -> str:
        return f"serviceAccount:{self.accounts[role].email}"
