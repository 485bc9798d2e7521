"""The stand-in's HTTP front: one server on loopback for every Google API the flows call.

With GOOGLE_APIS_BASE_URL=<base> (contracts/google_apis.py) a client calls `<base>/<host>/<path>`: the first path
segment says which API (`storage.googleapis.com`, `<region>-aiplatform.googleapis.com`, `cloudbuild...`,
`pubsub...`), and `/identity/<email>/computeMetadata/v1/...` is the metadata server of one identity. Each API
request is matched against the API's discovery document, authenticated by its bearer token (issued by the
metadata server), checked against the synthesized IAM by the service that handles it, and logged.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from rehearsal.standin import discovery
from rehearsal.standin.errors import ApiError, permission_denied
from rehearsal.standin.iam import Grant, Policy, Target


@dataclass
class Check:
    permission: str
    resource: str
    allowed: bool
    grant: str | None

    def line(self) -> str:
        verdict = f"allowed by {self.grant}" if self.allowed else "DENIED (no grant)"
        return f"{self.permission} on {self.resource}: {verdict}"


@dataclass
class LogEntry:
    """One request (or one internal action taken as an account, e.g. Eventarc's push): who, what, verdicts."""

    at: float
    api: str
    method: str
    caller: str
    path: str = ""
    status: int = 0
    checks: list[Check] = field(default_factory=list)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "api": self.api,
            "method": self.method,
            "caller": self.caller,
            "status": self.status,
            "path": self.path,
            "checks": [c.__dict__ for c in self.checks],
            **({"note": self.note} if self.note else {}),
        }

    def line(self) -> str:
        denied = [c for c in self.checks if not c.allowed]
        verdict = f"denied {denied[0].permission}" if denied else ", ".join(c.permission for c in self.checks)
        return (
            f"{self.status} {self.method} as {self.caller} [{verdict or 'no permission checked'}] {self.note}".strip()
        )


class RequestLog:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: LogEntry) -> LogEntry:
        with self._lock:
            self.entries.append(entry)
        return entry

    def since(self, index: int) -> list[LogEntry]:
        with self._lock:
            return list(self.entries[index:])

    def __len__(self) -> int:
        return len(self.entries)


@dataclass
class Call:
    """One authenticated request to an API method, as a service handler sees it."""

    host: str
    api: discovery.Api
    method: discovery.Method
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any
    member: str  # serviceAccount:x or user:y
    entry: LogEntry
    policy: Policy
    base_url: str

    @property
    def email(self) -> str:
        return self.member.split(":", 1)[1]

    def require(self, permission: str, target: Target) -> Grant:
        """Allowed by a grant (returned, and recorded), or ApiError 403 in the API's own words."""
        decision = self.policy.check(self.member, permission, target)
        grant = decision.grant.source if decision.grant else None
        self.entry.checks.append(Check(permission, target.name, decision.allowed, grant))
        if decision.grant is None:
            raise permission_denied(self.host, permission, target.name, self.email)
        return decision.grant


@dataclass
class Response:
    status: int = 200
    json: Any = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Response]
LEGACY_STORAGE_HOST = "www.googleapis.com"


class _Quiet(ThreadingHTTPServer):
    """A client that drops its connection (a gRPC client once answered, a closed tunnel) is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class Server:
    """The loopback server: routes by host, authenticates, validates, dispatches to a service, logs."""

    def __init__(self, policy: Policy, identities: Callable[[str], str | None]) -> None:
        self.policy = policy
        self.log = RequestLog()
        self.services: dict[str, tuple[str, Handler]] = {}  # host suffix -> (api document, handler)
        self.metadata: Callable[[BaseHTTPRequestHandler, str], None] | None = None
        self.raw_routes: list[tuple[str, Callable[[BaseHTTPRequestHandler, str, bytes], bool]]] = []
        self.identity_of_token = identities
        self.bypassed: list[LogEntry] = []
        # Hosts answered even past the seam (an SDK's internal call the project cannot route), and the CA that
        # lets the proxy tunnel answer as them (tls.py); without it a CONNECT is refused.
        self.past_seam_served: set[str] = set()
        self.authority: Any = None
        self.grpc: Any = None  # grpc_tunnel.GrpcTunnel: gRPC calls inside the tunnel
        self.httpd = _Quiet(("127.0.0.1", 0), _handler_class(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def register(self, host_suffix: str, api: str, handler: Handler) -> None:
        self.services[host_suffix] = (api, handler)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="standin", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def service_for(self, host: str) -> tuple[str, Handler] | None:
        if host == LEGACY_STORAGE_HOST:
            host = "storage.googleapis.com"  # TensorFlow's GCS filesystem calls the JSON API on its old host.
        for suffix, service in self.services.items():
            if host == suffix or host.endswith(f"-{suffix}"):
                return service
        return None


def _handler_class(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # The request log is ours; no access lines on stderr.

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def do_CONNECT(self) -> None:
            # HTTPS_PROXY points here: a client that calls a Google host directly, past the seam, ends up here.
            host = self.path.rsplit(":", 1)[0]
            if server.authority is None:
                _bypass(server, self, self.path)
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            try:
                tls = server.authority.context(host).wrap_socket(self.connection, server_side=True)
            except (OSError, ValueError):
                self.close_connection = True
                return
            if tls.selected_alpn_protocol() == "h2" and server.grpc is not None:
                server.grpc.serve(tls, host)
                self.close_connection = True
                return
            tunnel = type("Tunnel", (Handler,), {"tunnel_host": host, "proxy_caller": _proxy_caller(self)})
            tunnel(tls, self.client_address, server.httpd)
            self.close_connection = True

        tunnel_host: str | None = None
        proxy_caller: str = "unknown"

        def _handle(self, verb: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.startswith(("http://", "https://")):
                _bypass(server, self, self.path)  # A plain-HTTP proxy request (HTTP_PROXY): past the seam too.
                return
            url = urlsplit(self.path)
            if self.tunnel_host is not None:
                host, rest = self.tunnel_host, url.path.lstrip("/")
                if host not in server.past_seam_served:
                    _bypass(server, self, f"https://{host}{self.path}", self.proxy_caller)
                    return
            else:
                host, _, rest = url.path.lstrip("/").partition("/")
            if host == "identity" and server.metadata is not None:
                server.metadata(self, rest)
                return
            for prefix, route in server.raw_routes:
                if host == prefix and route(self, rest, raw):
                    return
            service = server.service_for(host)
            if service is None:
                _send(self, 404, {"error": {"code": 404, "message": f"the stand-in serves no API at host {host!r}"}})
                return
            api_name, handler = service
            response = _serve(
                server,
                verb,
                host,
                api_name,
                handler,
                rest,
                url.query,
                raw,
                dict(self.headers.items()),
                past_seam=self.tunnel_host is not None,
            )
            _reply(self, response, storage=api_name == "storage.v1")

    return Handler


def _serve(
    server: Server,
    verb: str,
    host: str,
    api_name: str,
    handler: Handler,
    path: str,
    query_string: str,
    raw: bytes,
    headers: dict[str, str],
    past_seam: bool = False,
) -> Response:
    api = discovery.load(api_name)
    entry = LogEntry(time.time(), host, f"{verb} /{path}", "anonymous", path=f"/{host}/{path}")
    if past_seam:
        entry.note = "past the seam: an SDK's own call, answered through the proxy tunnel"
    try:
        if api_name == "storage.v1" and path.startswith("download/"):
            path = path.removeprefix("download/")  # The media download service: same method, alt=media.
        elif api_name == "aiplatform.v1" and path.startswith("ui/"):
            # The Vertex AI GAPIC client's first HTTP binding of the operations methods is /ui/{name}, the same
            # method as the discovery document's /v1/{name} (google/cloud/aiplatform_v1 REST transports).
            path = "v1/" + path.removeprefix("ui/")
        elif api_name == "storage.v1" and past_seam and not path.startswith(("storage/", "upload/")):
            # https://storage.googleapis.com/<bucket>/<object>: the XML API's read, which TensorFlow's GCS
            # filesystem uses for object data; served as the JSON API's media get (same permission).
            bucket, _, name = path.partition("/")
            path, query_string = f"storage/v1/b/{bucket}/o/{quote(unquote(name), safe='')}", "alt=media"
        method, params = _resumable_data(api, verb, path, query_string) or api.match(verb, path)
        entry.method = method.id + (f" ({method.media} upload)" if method.media else "")
        query = discovery.check_query(method, parse_qs(query_string, keep_blank_values=True), api)
        member = _authenticate(server, headers)
        entry.caller = member.split(":", 1)[1]
        body = _json_body(raw, headers) if not method.media else None
        if body is not None or method.media is None:
            discovery.check_body(method, body, api)
        api_host = "storage.googleapis.com" if host == LEGACY_STORAGE_HOST else host
        call = Call(
            api_host, api, method, params, query, headers, raw, body, member, entry, server.policy, server.base_url
        )
        response = handler(call)
    except ApiError as err:
        response = Response(err.code, err.body(storage=api_name == "storage.v1"))
    except Exception as err:  # A stand-in bug must show as one, not as a Google error.
        response = Response(500, {"error": {"code": 500, "message": f"stand-in failure: {type(err).__name__}: {err}"}})
        entry.note = f"stand-in failure: {type(err).__name__}: {err}"
    entry.status = response.status
    server.log.add(entry)
    return response


def _resumable_data(
    api: discovery.Api, verb: str, path: str, query: str
) -> tuple[discovery.Method, dict[str, str]] | None:
    """The data requests of a resumable upload session: a PUT to the session URI the insert answered with."""
    if api.name != "storage.v1" or verb != "PUT" or "upload_id=" not in query:
        return None
    for method in api.methods:
        params = method.path_parameters(path)
        if method.media == "simple" and params is not None:
            parameters = {**method.parameters, "upload_id": {"type": "string", "location": "query"}}
            return dataclasses.replace(method, http_method="PUT", parameters=parameters, media="resumable-data"), params
    return None


def _authenticate(server: Server, headers: dict[str, str]) -> str:
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    if not auth.startswith("Bearer "):
        raise ApiError(401, "Request is missing required authentication credential. Expected OAuth 2 access token.")
    member = server.identity_of_token(auth.removeprefix("Bearer ").strip())
    if member is None:
        raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
    return member


def _json_body(raw: bytes, headers: dict[str, str]) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise ApiError(400, f"Invalid JSON payload received. {err}") from None


def _reply(handler: BaseHTTPRequestHandler, response: Response, storage: bool) -> None:
    if response.data is not None:
        payload = response.data
        content_type = response.headers.pop("Content-Type", "application/octet-stream")
    elif response.json is not None or response.status != 204:
        payload = json.dumps(response.json if response.json is not None else {}).encode()
        content_type = "application/json; charset=UTF-8"
    else:
        payload, content_type = b"", "application/json; charset=UTF-8"
    handler.send_response(response.status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    for key, value in response.headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)


def _proxy_caller(handler: BaseHTTPRequestHandler) -> str:
    """Who asked the proxy: the identity the driver put in the proxy URL's user name."""
    auth = handler.headers.get("Proxy-Authorization", "")
    if auth.startswith("Basic "):
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            return unquote(base64.b64decode(auth[6:]).decode().partition(":")[0])
    return "unknown"


def _bypass(server: Server, handler: BaseHTTPRequestHandler, target: str, caller: str | None = None) -> None:
    """Refuse, at once and on the record, a request that went past the seam (contracts/google_apis.py).

    Every process the driver starts has HTTPS_PROXY/HTTP_PROXY set to this server with its identity as the
    proxy user: a Google client that ignores GOOGLE_APIS_BASE_URL (an SDK's internal call, TensorFlow's GCS
    filesystem) arrives here instead of waiting for a network this machine does not have.
    """
    caller = caller or _proxy_caller(handler)
    host = urlsplit(target if "://" in target else f"https://{target}").hostname or target
    entry = LogEntry(
        time.time(),
        host,
        f"{handler.command} {target} (past the seam)",
        caller,
        path=target,
        status=403,
        note="not sent through GOOGLE_APIS_BASE_URL: the stand-in cannot answer it",
    )
    server.log.add(entry)
    server.bypassed.append(entry)
    text = f"the rehearsal refuses {target}: not sent through the Google API seam (contracts/google_apis.py)"
    message = json.dumps({"error": {"code": 403, "message": text, "status": "PERMISSION_DENIED"}}).encode()
    handler.send_response(403)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(message)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(message)
    handler.close_connection = True


def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    _reply(handler, Response(status, body), storage=False)
