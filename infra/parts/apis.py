"""The Google Cloud APIs the environment uses, enabled by the stack so a new project needs no clicking."""

from __future__ import annotations

from cdktf_cdktf_provider_google.project_service import ProjectService
from constructs import Construct

from contracts.environment import Gcp

SERVICES: tuple[str, ...] = (
    "aiplatform.googleapis.com",  # Vertex AI Pipelines, Training, Model Registry
    "artifactregistry.googleapis.com",  # the pipeline image and the KFP template repository
    "bigquery.googleapis.com",  # the endpoints' request-response logs, which the monitor queries
    "cloudbuild.googleapis.com",  # CI triggers, and the function's source build
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",  # project IAM and the google_project data source
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",  # the function's Pub/Sub trigger
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",  # 2nd-gen functions run on Cloud Run
    "secretmanager.googleapis.com",  # the Cloud Build GitHub connection keeps its token there
    "storage.googleapis.com",
)
# Only where the Beam components run on Dataflow (gcp.dataflow.enabled).
DATAFLOW_SERVICES: tuple[str, ...] = (
    "compute.googleapis.com",  # Dataflow workers are Compute Engine VMs in the configured subnetwork
    "dataflow.googleapis.com",
)


def services_for(gcp: Gcp) -> tuple[str, ...]:
    return SERVICES + (DATAFLOW_SERVICES if gcp.dataflow.enabled else ())


class Apis(Construct):
    """Enables the environment's services; `services` lets other resources wait for them on a fresh project."""

    def __init__(self, scope: Construct, id_: str, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.services = [
            ProjectService(
                self,
                service.split(".")[0],
                project=gcp.project,
                service=service,
                # Disabling an API on destroy would break anything else in the project that uses it.
                disable_on_destroy=False,
            )
            for service in services_for(gcp)
        ]
