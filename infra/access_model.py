"""The shapes of the access table (infra/access.py) and what turns its rows into concrete grants.

A row (`Grant`) says who (an account key of the table, or a Google-managed service agent), on what (a
`Resource`: the project, a bucket, a repository, a topic, a service account, the function's Cloud Run service,
the BigQuery dataset of the request logs, each of this environment or of its release store), which role, optionally
only on some objects (`Objects`: an IAM condition on object names), when (`When`: a property of the environment
file), why, and which rehearsed flow uses it (or why none does). `bindings(config)` resolves every row that
applies to an environment into names as Google Cloud spells them: what the stack grants, what the README shows,
what the rehearsal compares.

Standard library and contracts only: the rehearsal and the README generator import it without cdktf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from contracts.config import EnvironmentConfig, release_source
from contracts.environment import Gcp, pipeline_kind
from contracts.registry import registry_target

ResourceKind = Literal["project", "bucket", "repository", "topic", "service-account", "run-service", "bigquery-dataset"]
# The Terraform state bucket: created before the first deploy, named by gcp.state_bucket.
STATE = "tfstate"
CUSTOM = "custom:"  # a role of the table's CUSTOM_ROLES, created by the stack in the environment's project


@dataclass(frozen=True)
class When:
    """A property of the environment file that a grant (or an account) depends on."""

    label: str  # for the README, e.g. "with Dataflow (gcp.dataflow.enabled)"; "" for always
    test: Callable[[EnvironmentConfig], bool]

    def __call__(self, config: EnvironmentConfig) -> bool:
        return self.test(config)


ALWAYS = When("", lambda config: True)


@dataclass(frozen=True)
class Resource:
    kind: ResourceKind
    # The naming rule's kind (bucket, repository, topic), the account key (service-account), the function
    # (run-service), the dataset's kind (bigquery-dataset: `predictions`, the request logs' dataset, named by
    # Gcp.prediction_log_dataset); empty for the project.
    name: str = ""
    # "release": the resource of the environment whose releases this one runs (gcp.releases_from).
    store: Literal["own", "release"] = "own"
    # One per pipeline of the environment, <prefix>-<pipeline>-<name> (a pipeline's topics and function): a grant
    # on it is made on each pipeline's.
    per_pipeline: bool = False

    def kind_for(self, pipeline: str | None) -> str:
        """The naming rule's kind of this resource (for `pipeline`, if it is one per pipeline)."""
        if self.per_pipeline:
            if pipeline is None:
                raise ValueError(f"{self.kind} {self.name!r} is one per pipeline: name the pipeline")
            return pipeline_kind(pipeline, self.name)
        return self.name


@dataclass(frozen=True)
class Objects:
    """An IAM condition on the objects of a bucket grant: one object, a prefix, or everything but a prefix.

    `path` is asked once per pipeline of the environment (it is given the config for that pipeline): a path of
    each pipeline's own (its data area, its model's history) makes one condition over all of them, any of the
    objects or prefixes (exact, prefix), or none of the prefixes (outside)."""

    title: str
    match: Literal["exact", "prefix", "outside"]
    path: Callable[[EnvironmentConfig], str]  # the object name, or the prefix (ending with /), in the bucket
    description: str

    def paths(self, config: EnvironmentConfig) -> list[str]:
        """Every pipeline's path, once each, in pipeline order."""
        return list(dict.fromkeys(self.path(each) for each in config.each_pipeline()))


@dataclass(frozen=True)
class CustomRole:
    title: str
    description: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class Account:
    description: str
    when: When = ALWAYS


@dataclass(frozen=True)
class Grant:
    account: str  # a key of ACCOUNTS or AGENTS
    on: Resource
    role: str  # roles/<name>, or custom:<key of CUSTOM_ROLES>
    why: str
    flow: str = ""  # the rehearsed flow (a key of FLOWS) whose requests use it ...
    unrehearsed: str = ""  # ... or why the rehearsal does not exercise it
    only: Objects | None = None
    when: When = ALWAYS

    def __post_init__(self) -> None:
        if bool(self.flow) == bool(self.unrehearsed):
            raise ValueError(f"{self.account} {self.role}: give exactly one of flow and unrehearsed")


@dataclass(frozen=True)
class Binding:
    """A row resolved for one environment: member, resource, role and condition as Google Cloud names them."""

    member: str  # serviceAccount:<email>
    resource_type: ResourceKind
    # project id, bucket name, or the full resource name (repository, topic, account, service,
    # projects/<project>/datasets/<dataset>)
    resource: str
    role: str  # roles/<name> or projects/<project>/roles/<id>
    condition: str | None  # the CEL expression, or None
    grant: Grant
    pipeline: str | None = None  # the pipeline whose resource it is, for a resource one per pipeline


def account_email(gcp: Gcp, key: str) -> str:
    """An account the stack creates: <prefix>-<key>@<project>.iam.gserviceaccount.com (the naming rule)."""
    return f"{gcp.name(key)}@{gcp.project}.iam.gserviceaccount.com"


def agent_email(domain: str, project_number: str) -> str:
    """A Google-managed service agent of the project: service-<number>@<domain>."""
    return f"service-{project_number}@{domain}"


def store_gcp(config: EnvironmentConfig, store: str) -> Gcp:
    source = config if store == "own" else release_source(config)
    if source.gcp is None:
        raise ValueError(f"environment '{source.name}' has no gcp section")
    return source.gcp


def history_prefix(config: EnvironmentConfig) -> str:
    """The object prefix (ending with /) of the alias history the promote builds write, in the registry bucket
    (contracts.registry: RegistryTarget.history_uri); ValueError if it is anywhere else."""
    uri = registry_target(config).history_uri or ""
    registry = f"{store_gcp(config, 'own').bucket_uri('registry')}/"
    if not uri.startswith(registry) or uri.rstrip("/") == registry.rstrip("/"):
        raise ValueError(f"alias history {uri!r}: expected a folder of the registry bucket, {registry}<folder>")
    return uri.removeprefix(registry).rstrip("/") + "/"


def bucket_name(config: EnvironmentConfig, resource: Resource) -> str:
    gcp = store_gcp(config, resource.store)
    if resource.name == STATE:
        return gcp.terraform_state_bucket
    return gcp.name(resource.name)


def resource_name(config: EnvironmentConfig, resource: Resource, pipeline: str | None = None) -> str:
    gcp = store_gcp(config, resource.store)
    if resource.kind == "bigquery-dataset":
        return dataset_resource(gcp, resource)
    if resource.per_pipeline:
        resource = Resource(resource.kind, resource.kind_for(pipeline), resource.store)
    if resource.kind == "project":
        return gcp.project
    if resource.kind == "bucket":
        return bucket_name(config, resource)
    if resource.kind == "repository":
        return f"projects/{gcp.project}/locations/{gcp.region}/repositories/{gcp.name(resource.name)}"
    if resource.kind == "topic":
        return f"projects/{gcp.project}/topics/{gcp.name(resource.name)}"
    if resource.kind == "service-account":
        return f"projects/{gcp.project}/serviceAccounts/{account_email(gcp, resource.name)}"
    # A 2nd-gen function runs as the Cloud Run service of its name.
    return f"projects/{gcp.project}/locations/{gcp.region}/services/{gcp.name(resource.name)}"


def dataset_resource(gcp: Gcp, resource: Resource) -> str:
    """The request logs' dataset as IAM names it: projects/<project>/datasets/<dataset>, the contract's dataset
    (Gcp.prediction_log_dataset: <prefix>_predictions), which holds each pipeline's table <pipeline>_requests."""
    if resource.per_pipeline or resource.name != "predictions":
        raise ValueError(f"bigquery-dataset {resource.name!r}: the one dataset is the request logs', `predictions`")
    return f"projects/{gcp.project}/datasets/{gcp.prediction_log_dataset}"


def condition_expression(bucket: str, only: Objects, config: EnvironmentConfig) -> str:
    names = [f"projects/_/buckets/{bucket}/objects/{path}" for path in only.paths(config)]
    if only.match == "exact":
        return " || ".join(f'resource.name == "{name}"' for name in names)
    starts = [f'resource.name.startsWith("{name}")' for name in names]
    return " || ".join(starts) if only.match == "prefix" else " && ".join(f"!{each}" for each in starts)


def role_name(config: EnvironmentConfig, role: str) -> str:
    if not role.startswith(CUSTOM):
        return role
    gcp = store_gcp(config, "own")
    return f"projects/{gcp.project}/roles/{gcp.role_id(role.removeprefix(CUSTOM))}"


def bind(config: EnvironmentConfig, grant: Grant, member: str, pipeline: str | None = None) -> Binding:
    resource = resource_name(config, grant.on, pipeline)
    condition = None
    if grant.only is not None:
        if grant.on.kind != "bucket":
            raise ValueError(f"{grant.account} {grant.role}: an object condition needs a bucket, not {grant.on.kind}")
        condition = condition_expression(resource, grant.only, config)
    return Binding(member, grant.on.kind, resource, role_name(config, grant.role), condition, grant, pipeline)
