"""The checkov checks this project skips, each with its reason (standard library only).

Terraform JSON cannot carry inline `checkov:skip=` comments, so the skips live here and checkov_run.py passes
them as `--skip-check`. Every other check must pass on both stacks. Remove an entry when its reason goes.
"""

from __future__ import annotations

SKIPS: dict[str, str] = {
    "CKV_GCP_62": (
        "Bucket access logging means GCS usage logs, a legacy mechanism Google recommends replacing with Cloud "
        "Audit Logs; object access is audited there (Data Access logs for storage.googleapis.com, configured "
        "at the organization or project level, outside this stack)."
    ),
    "CKV_GCP_83": (
        "Pub/Sub topics use Google-managed encryption keys: the messages are small training requests, version "
        "announcements and canary-verdict notices with no personal data, and customer-managed keys would need a "
        "Cloud KMS key ring, rotation and key IAM that this project does not run. Revisit if messages ever carry "
        "classified data."
    ),
    "CKV_GCP_84": (
        "Artifact Registry repositories use Google-managed encryption keys (same reason as CKV_GCP_83): the "
        "pipeline image is built from this repository's own code."
    ),
    "CKV_GCP_81": (
        "The request logs' BigQuery dataset uses Google-managed encryption keys (same reason as CKV_GCP_83): the "
        "tables Vertex AI creates in it hold the features callers sent to each pipeline's endpoint and its answers, "
        "partitions expiring after the longest monitoring.log_retention_days. Revisit if an endpoint ever serves "
        "personal data (a dataset's default key then applies to the tables created in it)."
    ),
    "CKV2_GCP_24": (
        "The Vertex AI endpoint uses Google-managed encryption keys (same reason as CKV_GCP_83): it serves a "
        "penguin-species model trained on public data."
    ),
    "CKV2_GCP_33": (
        "The Vertex AI endpoint is a public (shared-DNS) endpoint: every prediction is an IAM-authorised call "
        "(aiplatform.endpoints.predict), with no unauthenticated access. A private one (Private Service Connect) "
        "would need a VPC, a forwarding rule and clients inside that network, which this project does not run."
    ),
}
