"""Google's discovery documents: which method a request is, and whether its query and body are well formed.

The documents are the ones google-api-python-client 2.x ships (googleapiclient/discovery_cache/documents), i.e.
Google's own machine-readable description of each API. A request is matched by its HTTP method and path against
every method's path template (flatPath where the document has one, else path; storage's media paths from
mediaUpload), its query parameters against the method's and the API's, and its JSON body against the method's
request schema: an unknown field, a wrong type or an unknown enum value is refused with 400, as Google does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rehearsal.standin.errors import ApiError

# The documents of the APIs the flows call (file name stem -> host the clients call).
APIS = {
    "storage.v1": "storage.googleapis.com",
    "aiplatform.v1": "aiplatform.googleapis.com",
    "cloudbuild.v1": "cloudbuild.googleapis.com",
    "pubsub.v1": "pubsub.googleapis.com",
    "cloudresourcemanager.v3": "cloudresourcemanager.googleapis.com",
    "bigquery.v2": "bigquery.googleapis.com",
    "monitoring.v3": "monitoring.googleapis.com",
}
# Google's system parameters, accepted by every API besides the document's own
# (https://cloud.google.com/apis/docs/system-parameters): GAPIC's REST transports send `$alt`.
SYSTEM_PARAMETERS = frozenset({"$alt", "alt", "fields", "key", "prettyPrint", "quotaUser", "$.xgafv", "$fields"})


def documents_folder() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@dataclass(frozen=True)
class Method:
    api: str  # e.g. "storage.v1"
    id: str  # e.g. "storage.objects.get"
    http_method: str
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    parameters: dict[str, Any]
    request: str | None  # schema id of the body
    media: str | None = None  # "simple" or "resumable" for the storage upload paths

    def path_parameters(self, path: str) -> dict[str, str] | None:
        match = self.pattern.fullmatch(path)
        if not match:
            return None
        return {name: unquote(value) for name, value in zip(self.names, match.groups(), strict=True)}


@dataclass
class Api:
    name: str
    document: dict[str, Any]
    methods: list[Method]

    @property
    def schemas(self) -> dict[str, Any]:
        return dict(self.document.get("schemas", {}))

    def match(self, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
        """The method and its path parameters; ApiError 404 (no such path) or 405 (path, other verb)."""
        other_verb = False
        for method in self.methods:
            params = method.path_parameters(path)
            if params is None:
                continue
            if method.http_method == http_method:
                return method, params
            other_verb = True
        if other_verb:
            raise ApiError(405, f"Method {http_method} is not allowed for {path} ({self.name} discovery document)")
        raise ApiError(404, f"The requested URL /{path} was not found on this server ({self.name}: no such method)")


def _template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]*)\})?", template):
        pattern += re.escape(literal)
        if name:
            reserved = name.startswith("+")
            names.append(name.lstrip("+"))
            pattern += "(.+)" if reserved else "([^/]+)"
    return re.compile(pattern), tuple(names)


def _walk(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _walk(child)


def _methods(api: str, document: dict[str, Any]) -> list[Method]:
    service_path = document.get("servicePath", "")
    found = []
    for m in _walk(document):
        template = service_path + (m.get("flatPath") or m["path"])
        pattern, names = _template_regex(template)
        request = m.get("request", {}).get("$ref")
        found.append(Method(api, m["id"], m["httpMethod"], template, pattern, names, m.get("parameters", {}), request))
        for protocol, spec in m.get("mediaUpload", {}).get("protocols", {}).items():
            # "/upload/storage/v1/b/{bucket}/o": the clients send the resumable kind here too (uploadType=resumable).
            media_template = spec["path"].lstrip("/")
            pattern, names = _template_regex(media_template)
            media = "resumable" if protocol == "resumable" else "simple"
            found.append(
                Method(api, m["id"], m["httpMethod"], media_template, pattern, names, m["parameters"], request, media)
            )
    # The most specific templates first: a literal segment beats a parameter ("models:upload" vs "models/{id}").
    return sorted(found, key=lambda method: (-len(re.sub(r"\{[^}]*\}", "", method.template)), method.template))


@cache
def load(api: str) -> Api:
    path = documents_folder() / f"{api}.json"
    document = json.loads(path.read_text())
    return Api(api, document, _methods(api, document))


def check_query(method: Method, query: dict[str, list[str]], api: Api) -> dict[str, str]:
    """The query parameters as single values; ApiError 400 naming an unknown or malformed one."""
    known = {**api.document.get("parameters", {}), **method.parameters}
    values: dict[str, str] = {}
    for name, given in query.items():
        spec = known.get(name)
        if spec is None and name not in SYSTEM_PARAMETERS:
            raise ApiError(
                400,
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                f"Field '{name}' could not be found in request message.",
            )
        if spec is not None and spec.get("location") == "path":
            raise ApiError(400, f"{name} is a path parameter of {method.id}, not a query parameter")
        if len(given) > 1 and not (spec or {}).get("repeated"):
            raise ApiError(400, f"query parameter {name} given {len(given)} times")
        value = given[-1]
        if spec is not None:
            _check_scalar(spec, value, name, from_query=True)
        values[name] = value
    for name, spec in method.parameters.items():
        if spec.get("required") and spec.get("location") == "query" and name not in values:
            raise ApiError(400, f"Required parameter: {name}")
    return values


def check_body(method: Method, body: Any, api: Api) -> None:
    """The JSON body against the method's request schema; ApiError 400 naming the first wrong field."""
    if method.request is None:
        if body not in (None, {}):
            raise ApiError(400, f"{method.id} takes no request body")
        return
    if body is None:
        return  # No body is the empty message.
    if not isinstance(body, dict):
        raise ApiError(400, f"Invalid JSON payload received. Expected an object for {method.request}.")
    _check_object(api, api.schemas[method.request], body, "", snake_ok=method.api != "storage.v1")


def _check_object(api: Api, schema: dict[str, Any], value: dict[str, Any], where: str, snake_ok: bool) -> None:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        spec = properties.get(key)
        if spec is None and snake_ok:
            # The proto3 JSON mapping that Google's REST front ends use accepts the original field name too.
            spec = properties.get(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key))
        if spec is None and extra is not None:
            spec = extra
        path = f"{where}.{key}" if where else key
        if spec is None:
            at = f" at '{where}'" if where else ""
            raise ApiError(400, f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
        _check_value(api, spec, item, path, snake_ok)


def _check_value(api: Api, spec: dict[str, Any], value: Any, path: str, snake_ok: bool) -> None:
    if value is None:
        return
    if "$ref" in spec:
        _check_value(api, api.schemas[spec["$ref"]], value, path, snake_ok)
        return
    kind = spec.get("type")
    if kind == "any" or kind is None:
        return
    if kind == "object":
        if not isinstance(value, dict):
            raise _wrong(path, "an object", value)
        _check_object(api, spec, value, path, snake_ok)
    elif kind == "array":
        if not isinstance(value, list):
            raise _wrong(path, "a list", value)
        for index, item in enumerate(value):
            _check_value(api, spec.get("items", {}), item, f"{path}[{index}]", snake_ok)
    else:
        _check_scalar(spec, value, path)


def _wrong(path: str, expected: str, value: Any) -> ApiError:
    return ApiError(400, f"Invalid value at '{path}' ({expected} expected), {json.dumps(value)[:80]}")


def _check_scalar(spec: dict[str, Any], value: Any, path: str, from_query: bool = False) -> None:
    kind, fmt = spec.get("type"), spec.get("format")
    if from_query:
        # Query values are strings; check that they parse as the declared type.
        if kind == "integer" or fmt in ("int64", "uint64", "int32", "uint32"):
            if not re.fullmatch(r"-?\d+", value):
                raise _wrong(path, "an integer", value)
        elif kind == "boolean" and value not in ("true", "false", "True", "False", "1", "0"):
            raise _wrong(path, "a boolean", value)
        elif "enum" in spec and value not in spec["enum"]:
            raise ApiError(400, f"Invalid value for {path}: {value!r} (one of {', '.join(spec['enum'])})")
        return
    if kind == "string":
        if fmt in ("int64", "uint64"):
            # Proto3 JSON: 64-bit integers are strings, and numbers are accepted too.
            if isinstance(value, bool) or not (isinstance(value, int) or re.fullmatch(r"-?\d+", str(value))):
                raise _wrong(path, "an int64", value)
            return
        if "enum" in spec:
            # Proto3 JSON accepts an enum by name or by number (GAPIC's REST transports send numbers).
            if isinstance(value, int) and not isinstance(value, bool):
                if not 0 <= value < len(spec["enum"]):
                    raise ApiError(400, f"Invalid value at '{path}', {value}: not a value of its enum")
                return
            if value not in spec["enum"]:
                raise ApiError(400, f"Invalid value at '{path}' (type.googleapis.com enum), \"{value}\"")
            return
        if not isinstance(value, str):
            raise _wrong(path, "a string", value)
    elif kind == "integer":
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
        ):
            raise _wrong(path, "an integer", value)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _wrong(path, "a number", value)
    elif kind == "boolean" and not isinstance(value, bool):
        raise _wrong(path, "a boolean", value)
