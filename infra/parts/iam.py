"""Iam: every grant of the environment, made from the access table (infra/access.py) and nothing else.

Each row that applies to the environment becomes one `*_iam_member` of its resource's type (additive: a
binding outside the table, e.g. the Eventarc subscription's, is left alone). Members and resources the stack
creates are Terraform references, so every grant waits for what it names; the release store's are named by
the naming rule of the environment it runs from (its stack creates them). The custom roles the rows use are
created here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_google.artifact_registry_repository import ArtifactRegistryRepository
from cdktf_cdktf_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from cdktf_cdktf_provider_google.bigquery_dataset import BigqueryDataset
from cdktf_cdktf_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from cdktf_cdktf_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktf_cdktf_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from contracts.environment import EnvironmentConfig
from infra import access
from infra.access_model import CUSTOM, STATE, Binding, Grant, Resource, bucket_name, store_gcp
from infra.parts.service_accounts import ServiceAccounts


@dataclass(frozen=True)
class Targets:
    """The stack's resources a grant may name, as Terraform references."""

    buckets: dict[str, str]  # kind -> bucket name
    repositories: dict[str, ArtifactRegistryRepository]
    topics: dict[str, PubsubTopic]  # by the naming rule's kind (<pipeline>-<kind> for a pipeline's own)
    function_services: dict[str, str]  # the trigger functions' Cloud Run service names, by kind (<pipeline>-trigger)
    datasets: dict[str, BigqueryDataset]  # the request logs' dataset, by kind (predictions)


class Iam(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        accounts: ServiceAccounts,
        targets: Targets,
        project_number: str,
    ) -> None:
        super().__init__(scope, id_)
        self.config, self.accounts, self.targets = config, accounts, targets
        self.gcp = store_gcp(config, "own")
        self.custom_roles = {key: self._custom_role(key) for key in access.custom_roles(config)}
        self.members: dict[str, Construct] = {}
        for binding in access.bindings(config, project_number):
            self.members[binding_id(binding)] = self._grant(binding)

    def _custom_role(self, key: str) -> ProjectIamCustomRole:
        role = access.CUSTOM_ROLES[key]
        return ProjectIamCustomRole(
            self,
            f"role-{key}",
            project=self.gcp.project,
            role_id=self.gcp.role_id(key),
            title=role.title,
            description=role.description,
            permissions=list(role.permissions),
        )

    def _member(self, binding: Binding) -> str:
        """A reference to an account the stack creates; the resolved address of a service agent."""
        account = binding.grant.account
        return self.accounts.member(account) if account in access.ACCOUNTS else binding.member

    def _role(self, grant: Grant) -> str:
        if grant.role.startswith(CUSTOM):
            return str(self.custom_roles[grant.role.removeprefix(CUSTOM)].name)
        return grant.role

    def _grant(self, binding: Binding) -> Construct:
        grant, on = binding.grant, binding.grant.on
        common: dict[str, Any] = {"role": self._role(grant), "member": self._member(binding)}
        id_ = binding_id(binding)
        if on.kind == "project":
            return ProjectIamMember(self, id_, project=binding.resource, **common)
        if on.kind == "bucket":
            condition = None
            if binding.condition is not None and grant.only is not None:
                condition = {
                    "title": grant.only.title,
                    "description": grant.only.description,
                    "expression": binding.condition,
                }
            return StorageBucketIamMember(self, id_, bucket=self._bucket(on), condition=condition, **common)
        if on.kind == "repository":
            gcp = store_gcp(self.config, on.store)
            repository = self.targets.repositories[on.name].name if on.store == "own" else gcp.name(on.name)
            return ArtifactRegistryRepositoryIamMember(
                self, id_, project=gcp.project, location=gcp.region, repository=repository, **common
            )
        if on.kind == "topic":
            topic = self.targets.topics[on.kind_for(binding.pipeline)].name
            return PubsubTopicIamMember(self, id_, project=self.gcp.project, topic=topic, **common)
        if on.kind == "service-account":
            account = self.accounts.accounts[on.name].name
            return ServiceAccountIamMember(self, id_, service_account_id=account, **common)
        if on.kind == "bigquery-dataset":
            # Non-authoritative, like every grant here: the dataset's other access entries stay.
            dataset = self.targets.datasets[on.name]
            return BigqueryDatasetIamMember(self, id_, project=dataset.project, dataset_id=dataset.dataset_id, **common)
        return CloudRunV2ServiceIamMember(
            self,
            id_,
            project=self.gcp.project,
            location=self.gcp.region,
            name=self.targets.function_services[on.kind_for(binding.pipeline)],
            **common,
        )

    def _bucket(self, on: Resource) -> str:
        if on.store == "release" or on.name == STATE:
            return bucket_name(self.config, on)  # not created by this stack: its name
        return self.targets.buckets[on.name]


def binding_id(binding: Binding) -> str:
    """A readable construct id, unique per row: account, resource, role (and the condition's title)."""
    grant = binding.grant
    on = grant.on
    name = on.kind_for(binding.pipeline)
    where = "-".join(part for part in (on.store if on.store == "release" else "", on.kind, name) if part)
    role = grant.role.removeprefix(CUSTOM).rsplit("/", 1)[-1].replace(".", "-")
    return "-".join(part for part in (grant.account, where, role, grant.only.title if grant.only else "") if part)
