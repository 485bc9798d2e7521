"""The shapes of the access table (infra/access.py) and what turns its rows into concrete grants.

A row (`Grant`) says who (an account key of the table, or a Google-managed service agent), on what (a
`Resource`: the project, a bucket, a repository, a topic, a service account, the function's Cloud Run service,
each of this environment or of its release store), which role, optionally only on some objects (`Objects`: an
IAM condition on object names), when (`When`: a property of the environment file), why, and which rehearsed
flow uses it (or why none does). `bindings(config)` resolves every row that applies to an environment into
names as Google Cloud spells them: what the stack grants, what the README shows, what the rehearsal compares.

Standard library and contracts only: the rehearsal and the README generator import it without cdktf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from contracts.config import EnvironmentConfig, release_source
from contracts.environment import Gcp
from contracts.registry import registry_target

ResourceKind = Literal["project", "bucket", "repository", "topic", "service-account", "run-service"]
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
    # (run-service); empty for the project.
    name: str = ""
    # "release": the resource of the environment whose releases this one runs (gcp.releases_from).
    store: Literal["own", "release"] = "own"


@dataclass(frozen=True)
class Objects:
    """An IAM condition on the objects of a bucket grant: one object, a prefix, or everything but a prefix."""

    title: str
    match: Literal["exact", "prefix", "outside"]
    path: Callable[[EnvironmentConfig], str]  # the object name, or the prefix (ending with /), in the bucket
    description: str


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
    resource: str  # project id, bucket name, or the full resource name (repository, topic, account, service)
    role: str  # roles/<name> or projects/<project>/roles/<id>
    condition: str | None  # the CEL expression, or None
    grant: Grant


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


def resource_name(config: EnvironmentConfig, resource: Resource) -> str:
    gcp = store_gcp(config, resource.store)
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


def condition_expression(bucket: str, only: Objects, config: EnvironmentConfig) -> str:
    name = f"projects/_/buckets/{bucket}/objects/{only.path(config)}"
    if only.match == "exact":
        return f'resource.name == "{name}"'
    starts = f'resource.name.startsWith("{name}")'
    return starts if only.match == "prefix" else f"!{starts}"


def role_name(config: EnvironmentConfig, role: str) -> str:
    if not role.startswith(CUSTOM):
        return role
    gcp = store_gcp(config, "own")
    return f"projects/{gcp.project}/roles/{gcp.role_id(role.removeprefix(CUSTOM))}"


def bind(config: EnvironmentConfig, grant: Grant, member: str) -> Binding:
    resource = resource_name(config, grant.on)
    condition = None
    if grant.only is not None:
        if grant.on.kind != "bucket":
            raise ValueError(f"{grant.account} {grant.role}: an object condition needs a bucket, not {grant.on.kind}")
        condition = condition_expression(resource, grant.only, config)
    return Binding(member, grant.on.kind, resource, role_name(config, grant.role), condition, grant)
