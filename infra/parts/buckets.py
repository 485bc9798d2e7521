"""The environment's buckets: named by the one naming rule, never public, versioned.

Kinds (the names the rest of the code derives with `gcp.bucket_uri(kind)`):
    pipeline-root  TFX artifacts of every run: rebuilt by reruns, so old objects expire
    artifacts      published templates, modules, wheels, function sources, the current-template pointer
    data           incoming labelled data and the spans: the training record
    registry       the registered model versions' durable, content-addressed copies and the alias history:
                   no lifecycle rule at all, so a version outlives every run that made it
    build-logs     Cloud Build logs (a user-specified build service account needs its own logs bucket)
Who may do what in which bucket is the access table's (infra/access.py). The Terraform state bucket is not
here: it must exist before the first `terraform init` (infra/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
)
from constructs import Construct

from contracts.environment import Gcp


@dataclass(frozen=True)
class BucketSpec:
    # Delete live objects older than this many days; None keeps them.
    expire_after_days: int | None
    # Delete overwritten or deleted (noncurrent) versions after this many days; None keeps them.
    noncurrent_days: int | None


# Every bucket is versioned, so a mistaken delete or overwrite can be undone. Artifacts, data and the registry
# are the record (published releases, training spans, model versions): their old versions are kept. Pipeline
# root and build logs are rebuilt or disposable: objects expire, and their old versions go a week later.
BUCKETS: dict[str, BucketSpec] = {
    "pipeline-root": BucketSpec(expire_after_days=30, noncurrent_days=7),
    "artifacts": BucketSpec(expire_after_days=None, noncurrent_days=None),
    "data": BucketSpec(expire_after_days=None, noncurrent_days=None),
    "registry": BucketSpec(expire_after_days=None, noncurrent_days=None),
    "build-logs": BucketSpec(expire_after_days=90, noncurrent_days=7),
}


class Buckets(Construct):
    def __init__(self, scope: Construct, id_: str, gcp: Gcp) -> None:
        super().__init__(scope, id_)
        self.buckets = {kind: self._bucket(gcp, kind, spec) for kind, spec in BUCKETS.items()}

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
