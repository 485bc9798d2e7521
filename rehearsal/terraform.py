"""Read a synthesized stack (cdk.tf.json) as `terraform apply` would see it: references and functions resolved.

The stacks change while the project grows, so nothing here knows our resources by name: a value is resolved
generically. Inside "${...}" it understands references (`google_service_account.x.email`, `data.t.n.attr`,
`t.n.block[0].attr`), function calls (`jsonencode`, `base64encode`, ...), object and tuple literals, strings,
numbers and booleans; a string mixing text and "${...}" parts is a template. What Terraform learns only when it
creates a resource (an account's email, a trigger's id, a topic's id) comes from `computed()`: the values the
stand-in's "deploy" gives each resource type, derived by Google's naming rules from the resource's arguments.
An attribute neither given nor modelled stops with an error naming the reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TerraformError(Exception):
    """A value of the stack that cannot be resolved; the message names the resource and the reference."""


@dataclass(frozen=True)
class Resource:
    stack: str
    type: str
    name: str
    body: dict[str, Any]
    data: bool = False

    @property
    def address(self) -> str:
        return f"{'data.' if self.data else ''}{self.type}.{self.name}"

    @property
    def label(self) -> str:
        """The address with its stack, as the request log names a grant: `dev:google_project_iam_member.x`."""
        return f"{self.stack}:{self.address}"


@dataclass
class Stack:
    """One environment's synthesized stack, with its values resolved on demand (and kept)."""

    name: str
    document: dict[str, Any]
    project: str
    region: str
    folder: Path = Path(".")
    _resources: dict[str, Resource] = field(default_factory=dict)
    _resolved: dict[str, Any] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> Stack:
        document = json.loads(path.read_text())
        google = document.get("provider", {}).get("google", [{}])
        provider = google[0] if isinstance(google, list) else google
        stack = cls(
            name or path.parent.name, document, provider.get("project", ""), provider.get("region", ""), path.parent
        )
        for kind, data in (("resource", False), ("data", True)):
            for type_, named in document.get(kind, {}).items():
                for name_, body in named.items():
                    resource = Resource(stack.name, type_, name_, body, data)
                    stack._resources[resource.address] = resource
        return stack

    def resources(self, type_: str) -> list[Resource]:
        return [r for r in self._resources.values() if r.type == type_ and not r.data]

    def resource(self, address: str) -> Resource:
        try:
            return self._resources[address]
        except KeyError:
            raise TerraformError(f"stack {self.name}: no resource {address}") from None

    def value(self, resource: Resource, path: str) -> Any:
        """The resolved value of `path` (e.g. "http_target.body", "service_config[0].service") of `resource`."""
        key = f"{resource.address}.{path}"
        if key in self._resolved:
            return self._resolved[key]
        if key in self._resolving:
            raise TerraformError(f"stack {self.name}: {key} refers to itself")
        self._resolving.add(key)
        try:
            value = self._attribute(resource, _steps(path))
        finally:
            self._resolving.discard(key)
        self._resolved[key] = value
        return value

    def resolved(self, resource: Resource) -> dict[str, Any]:
        """The whole body of `resource` with every value resolved (what `terraform apply` would send)."""
        return {key: self.value(resource, key) for key in resource.body if key not in ("//", "depends_on", "lifecycle")}

    def output(self, name: str) -> Any:
        outputs = self.document.get("output", {})
        if name not in outputs:
            raise TerraformError(f"stack {self.name}: no output {name!r}")
        return self.resolve(outputs[name]["value"], f"output.{name}")

    def _attribute(self, resource: Resource, steps: list[str | int]) -> Any:
        given = _walk(resource.body, steps)
        if given is not _MISSING:
            return self.resolve(given, resource.address)
        found = _walk(computed(self, resource), steps)
        if found is _MISSING:
            attr = _render_steps(steps)
            raise TerraformError(
                f"stack {self.name}: {resource.address}.{attr} is neither set in the stack nor a computed attribute "
                "the rehearsal models (rehearsal/terraform.py: computed)"
            )
        return found

    def resolve(self, value: Any, where: str) -> Any:
        """A JSON value of the stack with its "${...}" parts evaluated."""
        if isinstance(value, dict):
            return {k: self.resolve(v, where) for k, v in value.items() if k != "//"}
        if isinstance(value, list):
            return [self.resolve(v, where) for v in value]
        if isinstance(value, str) and "${" in value:
            return _template(value, lambda expr: _Parser(expr, self, where).parse())
        return value

    def reference(self, parts: list[str | int], where: str) -> Any:
        """The value a reference names: `type.name.attr...` or `data.type.name.attr...`."""
        head = [str(p) for p in parts[:3]]
        if head[0] == "data" and len(parts) >= 3:
            address, rest = f"data.{head[1]}.{head[2]}", parts[3:]
        elif len(parts) >= 2:
            address, rest = f"{head[0]}.{head[1]}", parts[2:]
        else:
            raise TerraformError(f"stack {self.name}: {where}: cannot resolve reference {_render_steps(parts)}")
        resource = self.resource(address)
        if not rest:
            raise TerraformError(f"stack {self.name}: {where}: a reference to a whole resource ({address})")
        return self.value(resource, _render_steps(rest))


_MISSING = object()


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        if name:
            steps.append(name)
        steps.extend(int(i) for i in indexes if i != "")
    return steps


def _render_steps(steps: list[str | int]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _walk(value: Any, steps: list[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int):
            # A block is a JSON object in cdktf's output and a one-element list in HCL's model: [0] is itself.
            if isinstance(value, list) and step < len(value):
                value = value[step]
            elif isinstance(value, dict) and step == 0:
                continue
            else:
                return _MISSING
        elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            value = value[0].get(step, _MISSING)
        elif isinstance(value, dict):
            value = value.get(step, _MISSING)
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _template(text: str, evaluate: Callable[[str], Any]) -> Any:
    """A Terraform string template: one "${expr}" alone keeps the value's type; otherwise text is joined."""
    pieces: list[Any] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            pieces.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            end = _closing(text, i + 2)
            pieces.append(_Value(evaluate(text[i + 2 : end])))
            i = end + 1
            continue
        pieces.append(text[i])
        i += 1
    if len(pieces) == 1 and isinstance(pieces[0], _Value):
        return pieces[0].value
    return "".join(_text(p.value) if isinstance(p, _Value) else p for p in pieces)


@dataclass(frozen=True)
class _Value:
    value: Any


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TerraformError(f"cannot interpolate a {type(value).__name__} into a string")
    return str(value)


def _closing(text: str, start: int) -> int:
    """The index of the '}' that closes the "${" before `start`, skipping strings and nested braces."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise TerraformError(f"unclosed '${{' in {text!r}")


_TOKEN = re.compile(
    r'\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)'
    r"|(?P<punct>[.\[\](){},=:]))"
)


def _tokens(expr: str) -> Iterator[tuple[str, str]]:
    i = 0
    while i < len(expr):
        if expr[i:].strip() == "":
            return
        match = _TOKEN.match(expr, i)
        if not match:
            raise TerraformError(f"cannot read the expression {expr!r} at {expr[i:]!r}")
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group(kind)
        i = match.end()


class _Parser:
    """A recursive-descent reader of the expression subset the synthesized stacks use."""

    def __init__(self, expr: str, stack: Stack, where: str) -> None:
        self.expr = expr
        self.tokens = list(_tokens(expr))
        self.i = 0
        self.stack = stack
        self.where = where

    def parse(self) -> Any:
        value = self._expression()
        if self.i != len(self.tokens):
            raise TerraformError(f"{self.where}: unexpected {self.tokens[self.i][1]!r} in ${{{self.expr}}}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, text: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (text is not None and token[1] != text):
            raise TerraformError(f"{self.where}: expected {text or 'more'} in ${{{self.expr}}}")
        self.i += 1
        return token

    def _expression(self) -> Any:
        kind, text = self._take()
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "string":
            return _template(json.loads(text), lambda e: _Parser(e, self.stack, self.where).parse())
        if text == "{":
            return self._object()
        if text == "[":
            return self._tuple()
        if kind != "name":
            raise TerraformError(f"{self.where}: unexpected {text!r} in ${{{self.expr}}}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == ("punct", "("):
            return self._call(text)
        return self._reference(text)

    def _object(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self._peek() != ("punct", "}"):
            kind, key = self._take()
            key = json.loads(key) if kind == "string" else key
            separator = self._take()[1]
            if separator not in ("=", ":"):
                raise TerraformError(f"{self.where}: expected '=' after {key!r} in ${{{self.expr}}}")
            result[key] = self._expression()
            if self._peek() == ("punct", ","):
                self._take(",")
        self._take("}")
        return result

    def _tuple(self) -> list[Any]:
        items = []
        while self._peek() != ("punct", "]"):
            items.append(self._expression())
            if self._peek() == ("punct", ","):
                self._take(",")
        self._take("]")
        return items

    def _call(self, name: str) -> Any:
        self._take("(")
        args = []
        while self._peek() != ("punct", ")"):
            args.append(self._expression())
            if self._peek() == ("punct", ","):
                self._take(",")
        self._take(")")
        if name not in FUNCTIONS:
            raise TerraformError(
                f"{self.where}: the Terraform function {name}() is not modelled (rehearsal/terraform.py)"
            )
        return FUNCTIONS[name](*args)

    def _reference(self, first: str) -> Any:
        parts: list[str | int] = [first]
        while (token := self._peek()) in (("punct", "."), ("punct", "[")):
            if token == ("punct", "."):
                self._take(".")
                parts.append(self._take()[1])
            else:
                self._take("[")
                parts.append(int(self._take()[1]))
                self._take("]")
        return self.stack.reference(parts, self.where)


def _jsonencode(value: Any) -> str:
    # Terraform's jsonencode: compact, keys in lexical order (HCL objects are maps).
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "jsonencode": _jsonencode,
    "jsondecode": json.loads,
    "base64encode": lambda s: base64.b64encode(str(s).encode()).decode(),
    "base64decode": lambda s: base64.b64decode(s).decode(),
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "join": lambda sep, items: sep.join(str(i) for i in items),
    "split": lambda sep, s: str(s).split(sep),
    "replace": lambda s, old, new: str(s).replace(old, new),
    "format": lambda fmt, *args: fmt.replace("%s", "{}").format(*args),
    "basename": lambda s: str(s).rstrip("/").rsplit("/", 1)[-1],
    "tostring": str,
    "sha256": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
    "element": lambda items, i: items[int(i) % len(items)],
    "length": len,
}


def project_number(project: str) -> str:
    """A stable 12-digit stand-in for a project's number (Terraform reads the real one from the API)."""
    return str(int(hashlib.sha256(project.encode()).hexdigest(), 16))[:12]


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def computed(stack: Stack, resource: Resource) -> dict[str, Any]:
    """What Google assigns a resource when it is created, derived from its (resolved) arguments."""
    args = {k: v for k, v in resource.body.items() if k not in ("//", "depends_on", "lifecycle")}

    def arg(name: str, default: Any = None) -> Any:
        return stack.value(resource, name) if name in args else default

    project = arg("project", stack.project) or stack.project
    location = arg("location", arg("region", stack.region))
    type_ = resource.type
    if type_ == "google_project" and resource.data:
        project_id = arg("project_id", project)
        return {"number": project_number(project_id), "project_id": project_id, "id": f"projects/{project_id}"}
    if type_ == "google_service_account":
        email = f"{arg('account_id')}@{project}.iam.gserviceaccount.com"
        name = f"projects/{project}/serviceAccounts/{email}"
        return {"email": email, "name": name, "id": name, "member": f"serviceAccount:{email}"}
    if type_ == "google_storage_bucket":
        return {"id": arg("name"), "url": f"gs://{arg('name')}", "project": project}
    if type_ == "google_pubsub_topic":
        return {"id": f"projects/{project}/topics/{arg('name')}"}
    if type_ == "google_pubsub_subscription":
        return {"id": f"projects/{project}/subscriptions/{arg('name')}"}
    if type_ == "google_cloudbuild_trigger":
        trigger_id = _stable_id(project, str(location), str(arg("name")))
        return {"trigger_id": trigger_id, "id": f"projects/{project}/locations/{location}/triggers/{trigger_id}"}
    if type_ == "google_cloudfunctions2_function":
        name = arg("name")
        return {
            "id": f"projects/{project}/locations/{location}/functions/{name}",
            "service_config": {"service": f"projects/{project}/locations/{location}/services/{name}"},
            "event_trigger": {
                "trigger": f"projects/{project}/locations/{location}/triggers/{name}-{_stable_id(name)[:6]}"
            },
            "url": f"https://{location}-{project}.cloudfunctions.net/{name}",
        }
    if type_ == "google_project_iam_custom_role":
        name = f"projects/{project}/roles/{arg('role_id')}"
        return {"name": name, "id": name}
    if type_ == "google_artifact_registry_repository":
        repo = arg("repository_id")
        return {"name": repo, "id": f"projects/{project}/locations/{location}/repositories/{repo}"}
    if type_ == "google_vertex_ai_endpoint":
        return {"id": f"projects/{project}/locations/{location}/endpoints/{arg('name')}"}
    if type_ == "google_storage_bucket_object":
        return {"id": f"{arg('bucket')}-{arg('name')}", "self_link": f"gs://{arg('bucket')}/{arg('name')}"}
    if type_ == "google_bigquery_dataset":
        return {"id": f"projects/{project}/datasets/{arg('dataset_id')}", "project": project}
    if type_ == "google_bigquery_table":
        return {"id": f"projects/{project}/datasets/{arg('dataset_id')}/tables/{arg('table_id')}", "project": project}
    if type_ == "google_monitoring_metric_descriptor":
        return {
            "name": f"projects/{project}/metricDescriptors/{arg('type')}",
            "id": f"projects/{project}/metricDescriptors/{arg('type')}",
        }
    if type_ == "google_monitoring_notification_channel":
        name = f"projects/{project}/notificationChannels/{_stable_id(project, str(arg('display_name')))[:18]}"
        return {"name": name, "id": name}
    if type_ == "google_cloud_scheduler_job":
        return {"id": f"projects/{project}/locations/{location}/jobs/{arg('name')}"}
    return {"id": f"{type_}/{resource.name}"}


def load_stacks(folder: Path) -> dict[str, Stack]:
    """Every stack under `folder` (build/infra/stacks/<env>/cdk.tf.json), by environment name."""
    paths = sorted(folder.glob("*/cdk.tf.json"))
    if not paths:
        raise TerraformError(f"{folder}: no synthesized stack (<env>/cdk.tf.json); run `nox -s synth`")
    return {path.parent.name: Stack.load(path) for path in paths}
