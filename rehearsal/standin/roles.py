"""Which permissions each predefined role used here holds, among the permissions the stand-in checks.

Read from Google's published role references on 2026-12-03:
- Cloud Storage: https://cloud.google.com/storage/docs/access-control/iam-roles
- Vertex AI: https://cloud.google.com/iam/docs/roles-permissions/aiplatform and, for which permission each
  operation needs (including the GET of a long-running operation, which needs the `get` permission of its
  resource), https://cloud.google.com/vertex-ai/docs/general/iam-permissions
- Cloud Build: https://cloud.google.com/iam/docs/roles-permissions/cloudbuild and
  https://cloud.google.com/build/docs/iam-roles-permissions (approvals: .../automating-builds/approve-builds)
- Pub/Sub: https://cloud.google.com/iam/docs/roles-permissions/pubsub
- Cloud Run: https://cloud.google.com/iam/docs/roles-permissions/run
- IAM (service account user): https://cloud.google.com/iam/docs/roles-permissions/iam
- Artifact Registry: https://cloud.google.com/iam/docs/roles-permissions/artifactregistry
- BigQuery: https://cloud.google.com/bigquery/docs/access-control (and .../iam/docs/roles-permissions/bigquery);
  a query job needs bigquery.jobs.create on the project it runs in and bigquery.tables.getData on what it reads
  (https://cloud.google.com/bigquery/docs/running-queries#required_permissions); a streaming write (what the
  endpoints' request-response logging does) bigquery.tables.updateData and bigquery.tables.get, and creating its
  table bigquery.tables.create (https://cloud.google.com/bigquery/docs/streaming-data-into-bigquery); read
  2026-12-05
- Cloud Monitoring: https://cloud.google.com/iam/docs/roles-permissions/monitoring (writing a point:
  monitoring.timeSeries.create, https://cloud.google.com/monitoring/access-control); read 2026-12-05

Only the permissions in CHECKED matter here: a role's other permissions (logging, monitoring, resource
manager, ...) are left out because no rehearsed request needs them. A role missing from ROLES holds none of
CHECKED as far as the stand-in knows; the run names such roles (`unmodelled_roles`) instead of guessing.
Custom roles are read from the synthesized stack (google_project_iam_custom_role.permissions).
"""

from __future__ import annotations

CHECKED = frozenset(
    {
        "storage.buckets.get",
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.update",
        "aiplatform.pipelineJobs.create",
        "aiplatform.pipelineJobs.get",
        "aiplatform.pipelineJobs.list",
        "aiplatform.models.upload",
        "aiplatform.models.get",
        "aiplatform.models.list",
        "aiplatform.models.update",
        "aiplatform.models.deploy",
        "aiplatform.endpoints.get",
        "aiplatform.endpoints.deploy",
        "aiplatform.endpoints.undeploy",
        "aiplatform.endpoints.update",
        "cloudbuild.builds.create",
        "cloudbuild.builds.get",
        "cloudbuild.builds.approve",
        "cloudbuild.operations.get",
        "pubsub.topics.publish",
        "run.routes.invoke",
        "iam.serviceAccounts.actAs",
        "artifactregistry.repositories.downloadArtifacts",
        "artifactregistry.repositories.uploadArtifacts",
        "resourcemanager.projects.get",
        "bigquery.jobs.create",
        "bigquery.jobs.get",
        "bigquery.tables.create",
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.updateData",
        "monitoring.timeSeries.create",
    }
)
# Roles that read the project itself (resourcemanager.projects.get), e.g. for the Vertex SDK's bucket check.
_PROJECT = frozenset({"resourcemanager.projects.get"})

_OBJECT_RW = frozenset(
    {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.update",
    }
)
_VERTEX_ALL = frozenset(p for p in CHECKED if p.startswith("aiplatform."))

ROLES: dict[str, frozenset[str]] = {
    # The project's owner (the platform engineer who deploys) holds every permission.
    "roles/owner": CHECKED,
    # Cloud Storage
    "roles/storage.objectViewer": frozenset({"storage.objects.get", "storage.objects.list"}) | _PROJECT,
    "roles/storage.objectCreator": frozenset({"storage.objects.create"}) | _PROJECT,
    "roles/storage.objectUser": _OBJECT_RW | _PROJECT,
    "roles/storage.objectAdmin": _OBJECT_RW | _PROJECT,
    "roles/storage.admin": _OBJECT_RW | {"storage.buckets.get"} | _PROJECT,
    "roles/storage.bucketViewer": frozenset({"storage.buckets.get"}),
    "roles/storage.legacyBucketReader": frozenset({"storage.buckets.get", "storage.objects.list"}),
    "roles/storage.legacyBucketWriter": frozenset(
        {"storage.buckets.get", "storage.objects.list", "storage.objects.create", "storage.objects.delete"}
    ),
    "roles/storage.legacyObjectReader": frozenset({"storage.objects.get"}),
    # Vertex AI: the user role uses every resource (everything here but IAM policy changes); the viewer reads.
    "roles/aiplatform.user": _VERTEX_ALL | _PROJECT,
    "roles/aiplatform.admin": _VERTEX_ALL | _PROJECT,
    "roles/aiplatform.viewer": frozenset(
        {
            "aiplatform.pipelineJobs.get",
            "aiplatform.pipelineJobs.list",
            "aiplatform.models.get",
            "aiplatform.models.list",
            "aiplatform.endpoints.get",
        }
    )
    | _PROJECT,
    # Cloud Build
    "roles/cloudbuild.builds.viewer": frozenset({"cloudbuild.builds.get", "cloudbuild.operations.get"}) | _PROJECT,
    "roles/cloudbuild.builds.editor": frozenset(
        {"cloudbuild.builds.create", "cloudbuild.builds.get", "cloudbuild.operations.get"}
    )
    | _PROJECT,
    "roles/cloudbuild.builds.approver": frozenset(
        {"cloudbuild.builds.approve", "cloudbuild.builds.get", "cloudbuild.operations.get"}
    )
    | _PROJECT,
    "roles/cloudbuild.builds.builder": frozenset(
        {
            "cloudbuild.builds.create",
            "cloudbuild.builds.get",
            "artifactregistry.repositories.downloadArtifacts",
            "artifactregistry.repositories.uploadArtifacts",
        }
    )
    | _PROJECT,
    # Pub/Sub: publishing is the publisher's and the editor's, not the viewer's.
    "roles/pubsub.publisher": frozenset({"pubsub.topics.publish"}),
    "roles/pubsub.editor": frozenset({"pubsub.topics.publish"}),
    "roles/pubsub.viewer": frozenset(),
    # Cloud Run: invoking a service (what Eventarc's push to a 2nd-gen function needs).
    "roles/run.invoker": frozenset({"run.routes.invoke"}),
    "roles/run.viewer": frozenset(),
    # IAM
    "roles/iam.serviceAccountUser": frozenset({"iam.serviceAccounts.actAs"}),
    # Artifact Registry
    "roles/artifactregistry.reader": frozenset({"artifactregistry.repositories.downloadArtifacts"}),
    "roles/artifactregistry.writer": frozenset(
        {"artifactregistry.repositories.downloadArtifacts", "artifactregistry.repositories.uploadArtifacts"}
    ),
    # BigQuery. jobUser runs jobs and reads nothing; the data roles are granted on a dataset or table (or the
    # project) and act on its tables; jobs.get on others' jobs is the admin's (a job's creator reads it anyway).
    "roles/bigquery.jobUser": frozenset({"bigquery.jobs.create"}) | _PROJECT,
    "roles/bigquery.user": frozenset({"bigquery.jobs.create"}) | _PROJECT,
    "roles/bigquery.metadataViewer": frozenset({"bigquery.tables.get"}),
    "roles/bigquery.dataViewer": frozenset({"bigquery.tables.get", "bigquery.tables.getData"}),
    "roles/bigquery.dataEditor": frozenset(
        {"bigquery.tables.create", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"}
    ),
    "roles/bigquery.dataOwner": frozenset(
        {"bigquery.tables.create", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData"}
    ),
    "roles/bigquery.admin": frozenset(p for p in CHECKED if p.startswith("bigquery.")) | _PROJECT,
    # Cloud Monitoring: writing points is the metric writer's (and the editor's and admin's), not the viewer's.
    "roles/monitoring.metricWriter": frozenset({"monitoring.timeSeries.create"}),
    "roles/monitoring.editor": frozenset({"monitoring.timeSeries.create"}) | _PROJECT,
    "roles/monitoring.admin": frozenset({"monitoring.timeSeries.create"}) | _PROJECT,
    # Roles whose permissions include none of CHECKED (read-only viewers, logging, Eventarc's receiver).
    "roles/browser": frozenset() | _PROJECT,
    "roles/iam.securityReviewer": frozenset() | _PROJECT,
    "roles/iam.serviceAccountViewer": frozenset(),
    "roles/logging.logWriter": frozenset(),
    "roles/monitoring.viewer": frozenset(),
    "roles/cloudfunctions.viewer": frozenset(),
    "roles/cloudscheduler.viewer": frozenset(),
    "roles/eventarc.viewer": frozenset(),
    "roles/eventarc.eventReceiver": frozenset(),
    "roles/serviceusage.serviceUsageViewer": frozenset(),
}
