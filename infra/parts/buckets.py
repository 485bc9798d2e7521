"""The environment's buckets and who may touch which: named by the one naming rule, never public.

Kinds (the names the rest of the code derives with `gcp.bucket_uri(kind)`):
    pipeline-root  TFX artifacts of every run: rebuilt by reruns, so old objects expire
    artifacts      published templates, modules, wheels, function sources: create-only, versioned
    data           incoming labelled data and the spans: the training record, versioned
    build-logs     Cloud Build logs (a user-specified build service account needs its own logs bucket)
The Terraform state bucket is not here: it must exist before the first `terraform init` (infra/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
)
from cdktf_cdktf_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from contracts.environment import Gcp
from infra.parts.service_accounts import ServiceAccounts


@dataclass(frozen=True)
class BucketSpec:
    # Delete live objects older than this many days; None keeps them.
    expire_after_days: int | None
    # Delete overwritten or deleted (noncurrent) versions after this many days; None keeps them.
    noncurrent_days: int | None


# Every bucket is versioned, so a mistaken delete or overwrite can be undone. Artifacts and data are the
# record (published releases, training spans): their old versions are kept. Pipeline root and build logs are
# rebuilt or disposable: objects expire, and their old versions go a week later.
BUCKETS: dict[str, BucketSpec] = {
    "pipeline-root": BucketSpec(expire_after_days=30, noncurrent_days=7),
    "artifacts": BucketSpec(expire_after_days=None, noncurrent_days=None),
    "data": BucketSpec(expire_after_days=None, noncurrent_days=None),
    "build-logs": BucketSpec(expire_after_days=90, noncurrent_days=7),
}

# (bucket kind, account role, bucket role). objectCreator + objectViewer is create-only: CI publishes
# content-addressed objects and may never overwrite one (pipelines/publishing is create-only too).
GRANTS: tuple[tuple[str, str, str], ...] = (
    ("pipeline-root", "pipeline", "roles/storage.objectAdmin"),
    ("data", "pipeline", "roles/storage.objectAdmin"),
    ("artifacts", "pipeline", "roles/storage.objectViewer"),
    ("artifacts", "ci", "roles/storage.objectCreator"),
    ("artifacts", "ci", "roles/storage.objectViewer"),
    # The promote build (ci/cloudbuild/promote.yaml) runs as CI and smoke-tests the pushed SavedModel, which
    # lives in the pipeline root: read-only.
    ("pipeline-root", "ci", "roles/storage.objectViewer"),
    # The function reads the template it submits (the Vertex client downloads it with the caller's identity).
    ("artifacts", "trigger", "roles/storage.objectViewer"),
    # Cloud Build streams logs into the bucket and rewrites the log object as it grows.
    ("build-logs", "ci", "roles/storage.objectAdmin"),
)


class Buckets(Construct):
    def __init__(self, scope: Construct, id_: str, gcp: Gcp, accounts: ServiceAccounts) -> None:
        super().__init__(scope, id_)
        self.buckets = {kind: self._bucket(gcp, kind, spec) for kind, spec in BUCKETS.items()}
        for kind, role, bucket_role in GRANTS:
            StorageBucketIamMember(
                self,
                f"{kind}-{role}-{bucket_role.removeprefix('roles/storage.')}",
                bucket=self.buckets[kind].name,
                role=bucket_role,
                member=accounts.member(role),
            )
        # CI reads the Terraform state for `terraform plan -lock=false`; the bucket is bootstrapped outside.
        StorageBucketIamMember(
            self,
            "tfstate-ci-objectViewer",
            bucket=gcp.terraform_state_bucket,
            role="roles/storage.objectViewer",
            member=accounts.member("ci"),
        )

    def name(self, kind: str) -> str:
        return self.buckets[kind].name

    def _bucket(self, gcp: Gcp, kind: str, spec: BucketSpec) -> StorageBucket:
        delete = StorageBucketLifecycleRuleAction(type="Delete")
        lifecycle = []
        if spec.expire_after_days:
            condition = StorageBucketLifecycleRuleCondition(age=spec.expire_after_days)
            lifecycle.append(StorageBucketLifecycleRule(action=delete, condition=condition))
        if spec.noncurrent_days:
            condition = StorageBucketLifecycleRuleCondition(days_since_noncurrent_time=spec.noncurrent_days)
            lifecycle.append(StorageBucketLifecycleRule(action=delete, condition=condition))
        return StorageBucket(
            self,
            kind,
            project=gcp.project,
            name=gcp.name(kind),
            location=gcp.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            lifecycle_rule=lifecycle or None,
            # A bucket with objects is never deleted by a plan; empty it by hand if you mean it.
            force_destroy=False,
        )
