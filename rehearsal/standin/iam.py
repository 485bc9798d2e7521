"""The allow policy the stacks create, and the one question the stand-in asks it: may this caller do this here?

Grants come from every IAM resource of every synthesized stack (project, bucket, service account, topic, Cloud
Run service, Artifact Registry repository, BigQuery dataset and table members, `_member` and `_binding` alike,
with their conditions), plus the human operator's declared roles (rehearsal/operator.py). A permission on a
resource is allowed by a grant on that resource or on an ancestor (object -> bucket -> project; table ->
dataset -> project), if the grant's role holds it and its condition (a CEL subset: `resource.name`/
`resource.type` with `startsWith`, `endsWith`, `==`, `!=`, `&&`, `||`, `!`, parentheses) holds. Every allowing
grant is recorded, so a grant no request used can be named.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from rehearsal.standin.roles import CHECKED, ROLES
from rehearsal.terraform import Stack


@dataclass(frozen=True)
class Target:
    """What a permission is checked on: its full resource name, its type, and the names of its ancestors."""

    name: str  # e.g. projects/_/buckets/b/objects/o (the name IAM conditions see)
    type: str  # e.g. storage.googleapis.com/Object
    ancestors: tuple[str, ...] = ()  # grant keys of the ancestors, nearest first (bucket, project)

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.ancestors)


def project_key(project: str) -> str:
    return f"projects/{project}"


def bucket_target(bucket: str, project: str) -> Target:
    return Target(f"projects/_/buckets/{bucket}", "storage.googleapis.com/Bucket", (project_key(project),))


def object_target(bucket: str, name: str, project: str) -> Target:
    return Target(
        f"projects/_/buckets/{bucket}/objects/{name}",
        "storage.googleapis.com/Object",
        (f"projects/_/buckets/{bucket}", project_key(project)),
    )


def service_account_target(email: str) -> Target:
    project = email.split("@", 1)[1].split(".", 1)[0]
    return Target(
        f"projects/{project}/serviceAccounts/{email}", "iam.googleapis.com/ServiceAccount", (project_key(project),)
    )


def project_target(
    project: str, name: str | None = None, type_: str = "cloudresourcemanager.googleapis.com/Project"
) -> Target:
    """A resource whose only IAM parent here is its project (Vertex AI, Cloud Build); `name` for the message."""
    return Target(name or project_key(project), type_, (project_key(project),) if name else ())


@dataclass(frozen=True)
class Grant:
    member: str
    role: str
    resource: str  # the grant key: projects/p, projects/_/buckets/b, projects/p/topics/t, ...
    condition: str | None
    source: str  # where it comes from: "<stack>:<terraform address>" or the operator declaration


@dataclass(frozen=True)
class Decision:
    allowed: bool
    permission: str
    target: Target
    grant: Grant | None


@dataclass
class Policy:
    grants: list[Grant] = field(default_factory=list)
    custom_roles: dict[str, frozenset[str]] = field(default_factory=dict)
    used: dict[Grant, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def permissions(self, role: str) -> frozenset[str]:
        return self.custom_roles.get(role) or ROLES.get(role, frozenset())

    def unmodelled_roles(self) -> list[str]:
        return sorted({g.role for g in self.grants if g.role not in ROLES and g.role not in self.custom_roles})

    def check(self, member: str, permission: str, target: Target) -> Decision:
        if permission not in CHECKED:
            raise ValueError(f"{permission} is not in rehearsal/standin/roles.py CHECKED: add it and its roles")
        for key in target.keys:
            for grant in self.grants:
                if grant.member != member or grant.resource != key:
                    continue
                if permission not in self.permissions(grant.role):
                    continue
                if grant.condition and not evaluate(grant.condition, target):
                    continue
                with self._lock:
                    self.used[grant] = self.used.get(grant, 0) + 1
                return Decision(True, permission, target, grant)
        return Decision(False, permission, target, None)

    def unused(self) -> list[Grant]:
        return [g for g in self.grants if g not in self.used]


# Terraform IAM resource types -> (the argument naming the resource, how to turn it into a grant key).
def _key_bucket(value: str, stack: Stack) -> str:
    return f"projects/_/buckets/{value.removeprefix('b/')}"


def _key_project(value: str, stack: Stack) -> str:
    return project_key(value.removeprefix("projects/"))


def _key_service_account(value: str, stack: Stack) -> str:
    if value.startswith("projects/"):
        return value
    project = value.split("@", 1)[1].split(".", 1)[0]
    return f"projects/{project}/serviceAccounts/{value}"


def _key_topic(value: str, stack: Stack, project: str) -> str:
    return value if value.startswith("projects/") else f"projects/{project}/topics/{value}"


def _key_service(value: str, stack: Stack, project: str, location: str) -> str:
    return value if value.startswith("projects/") else f"projects/{project}/locations/{location}/services/{value}"


def _key_repository(value: str, stack: Stack, project: str, location: str) -> str:
    return value if value.startswith("projects/") else f"projects/{project}/locations/{location}/repositories/{value}"


_IAM_TYPES = {
    "google_project_iam": "project",
    "google_storage_bucket_iam": "bucket",
    "google_service_account_iam": "service_account_id",
    "google_pubsub_topic_iam": "topic",
    "google_cloud_run_v2_service_iam": "name",
    "google_cloud_run_service_iam": "service",
    "google_artifact_registry_repository_iam": "repository",
    "google_bigquery_dataset_iam": "dataset_id",
    "google_bigquery_table_iam": "table_id",
}


def grants_of(stack: Stack) -> tuple[list[Grant], dict[str, frozenset[str]]]:
    """Every grant and custom role the stack creates (its IAM `_member` and `_binding` resources)."""
    grants: list[Grant] = []
    for prefix, argument in _IAM_TYPES.items():
        for suffix in ("_member", "_binding"):
            for resource in stack.resources(prefix + suffix):
                body = stack.resolved(resource)
                members = [body["member"]] if suffix == "_member" else list(body.get("members", []))
                key = _grant_key(prefix, str(body[argument]), body, stack)
                condition = (body.get("condition") or {}).get("expression")
                grants += [Grant(m, str(body["role"]), key, condition, resource.label) for m in members]
    custom = {
        str(stack.value(r, "name")): frozenset(stack.value(r, "permissions"))
        for r in stack.resources("google_project_iam_custom_role")
    }
    return grants, custom


def _grant_key(prefix: str, value: str, body: dict[str, object], stack: Stack) -> str:
    project = str(body.get("project") or stack.project)
    location = str(body.get("location") or stack.region)
    if prefix == "google_project_iam":
        return _key_project(value, stack)
    if prefix == "google_storage_bucket_iam":
        return _key_bucket(value, stack)
    if prefix == "google_service_account_iam":
        return _key_service_account(value, stack)
    if prefix == "google_pubsub_topic_iam":
        return _key_topic(value, stack, project)
    if prefix.startswith("google_cloud_run"):
        return _key_service(value, stack, project, location)
    if prefix == "google_bigquery_dataset_iam":
        return value if value.startswith("projects/") else f"projects/{project}/datasets/{value}"
    if prefix == "google_bigquery_table_iam":
        if value.startswith("projects/"):
            return value
        return f"projects/{project}/datasets/{body['dataset_id']}/tables/{value}"
    return _key_repository(value, stack, project, location)


def policy_of(stacks: Iterable[Stack], extra: Iterable[Grant] = ()) -> Policy:
    policy = Policy()
    for stack in stacks:
        grants, custom = grants_of(stack)
        policy.grants += grants
        policy.custom_roles |= custom
    policy.grants += list(extra)
    return policy


# --- IAM conditions: the subset of CEL that resource-name conditions use ----------------------------------

_CEL_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>&&|\|\||==|!=|!|\(|\)|\.|,)'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)


class ConditionError(ValueError):
    """A condition outside the modelled subset: the grant is not applied, and the run says why."""


def evaluate(expression: str, target: Target) -> bool:
    tokens = []
    i = 0
    while i < len(expression):
        if expression[i:].strip() == "":
            break
        match = _CEL_TOKEN.match(expression, i)
        if not match:
            raise ConditionError(f"cannot read the IAM condition {expression!r} at {expression[i:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        i = match.end()
    parser = _Cel(tokens, target, expression)
    value = parser.disjunction()
    if parser.i != len(tokens):
        raise ConditionError(f"unexpected {tokens[parser.i][1]!r} in the IAM condition {expression!r}")
    return bool(value)


class _Cel:
    def __init__(self, tokens: list[tuple[str, str]], target: Target, text: str) -> None:
        self.tokens, self.i, self.target, self.text = tokens, 0, target, text

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ConditionError(f"the IAM condition {self.text!r} ends early")
        self.i += 1
        return self.tokens[self.i - 1]

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self._peek() == "||":
            self._take()
            right = self.conjunction()
            value = value or right
        return value

    def conjunction(self) -> bool:
        value = self.unary()
        while self._peek() == "&&":
            self._take()
            right = self.unary()
            value = value and right
        return value

    def unary(self) -> bool:
        if self._peek() == "!":
            self._take()
            return not self.unary()
        return self.comparison()

    def comparison(self) -> bool:
        if self._peek() == "(":
            self._take()
            value = self.disjunction()
            if self._take()[1] != ")":
                raise ConditionError(f"expected ')' in {self.text!r}")
            return value
        left = self.operand()
        op = self._peek()
        if op in ("==", "!="):
            self._take()
            right = self.operand()
            return (left == right) if op == "==" else (left != right)
        if isinstance(left, bool):
            return left
        raise ConditionError(f"expected a comparison in the IAM condition {self.text!r}")

    def operand(self) -> str | bool:
        kind, text = self._take()
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind != "name" or text != "resource":
            raise ConditionError(f"{text!r} in {self.text!r}: only resource.name and resource.type are modelled")
        self._expect(".")
        attribute = self._take()[1]
        values = {"name": self.target.name, "type": self.target.type, "service": self.target.type.split("/")[0]}
        if attribute not in values:
            raise ConditionError(f"resource.{attribute} in {self.text!r} is not modelled")
        value = values[attribute]
        if self._peek() == ".":
            self._take()
            function = self._take()[1]
            self._expect("(")
            argument = self.operand()
            self._expect(")")
            if function == "startsWith":
                return value.startswith(str(argument))
            if function == "endsWith":
                return value.endswith(str(argument))
            raise ConditionError(f"{function}() in {self.text!r} is not modelled")
        return value

    def _expect(self, text: str) -> None:
        if self._take()[1] != text:
            raise ConditionError(f"expected {text!r} in the IAM condition {self.text!r}")
