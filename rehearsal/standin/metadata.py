"""The metadata server, one per identity: `/identity/<email>/computeMetadata/v1/...`.

Each process the driver starts gets GCE_METADATA_HOST=GCE_METADATA_IP=127.0.0.1:<port>/identity/<email>, so
google-auth's Application Default Credentials resolve to that account, as on a Cloud Build worker, a Cloud
Function or a Vertex AI pipeline step. The answers follow the metadata server's contract that google-auth
relies on (https://cloud.google.com/compute/docs/metadata/querying-metadata): the `Metadata-Flavor: Google`
request header is required and echoed; JSON answers are `application/json`, single values `application/text`.
A token stands for its identity in every API request; an unknown token is refused with 401.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class Identity:
    member: str  # serviceAccount:<email> or user:<email>
    project: str

    @property
    def email(self) -> str:
        return self.member.split(":", 1)[1]


class Identities:
    def __init__(self) -> None:
        self._by_email: dict[str, Identity] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, member: str, project: str) -> Identity:
        identity = Identity(member, project)
        self._by_email[identity.email] = identity
        return identity

    def get(self, email: str) -> Identity | None:
        return self._by_email.get(email)

    def token_for(self, email: str) -> str:
        token = f"ya29.rehearsal-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = email
        return token

    def member_of_token(self, token: str) -> str | None:
        email = self._tokens.get(token)
        identity = self._by_email.get(email) if email else None
        return identity.member if identity else None

    def handle(self, handler: BaseHTTPRequestHandler, rest: str) -> None:
        """Serve GET /identity/<rest>: the ping (`/identity/<email>`) or a computeMetadata/v1 path."""
        email, _, path = rest.partition("/")
        identity = self._by_email.get(email)
        if handler.headers.get("Metadata-Flavor") != "Google":
            _answer(handler, 403, "text/html", "Missing Metadata-Flavor:Google header.")
            return
        if identity is None:
            _answer(handler, 404, "text/html", f"no identity {email!r} on this metadata server")
            return
        path = urlsplit(path).path
        if path in ("", "computeMetadata/v1", "computeMetadata/v1/"):
            _answer(handler, 200, "application/text", "computeMetadata/\n")
            return
        value = self._value(identity, path.removeprefix("computeMetadata/v1/").rstrip("/"))
        if value is None:
            _answer(handler, 404, "text/html", f"metadata path {path!r} not found")
        elif isinstance(value, dict):
            _answer(handler, 200, "application/json", json.dumps(value))
        else:
            _answer(handler, 200, "application/text", value)

    def _value(self, identity: Identity, path: str) -> dict[str, object] | str | None:
        accounts = "instance/service-accounts/"
        if path == "project/project-id":
            return identity.project
        if path == "universe/universe-domain":
            return "googleapis.com"
        if not path.startswith(accounts):
            return None
        account, _, leaf = path.removeprefix(accounts).partition("/")
        if account not in ("default", identity.email):
            return None
        if leaf == "":
            return {
                "aliases": ["default"],
                "email": identity.email,
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            }
        if leaf == "email":
            return identity.email
        if leaf == "scopes":
            return "https://www.googleapis.com/auth/cloud-platform\n"
        if leaf == "token":
            return {"access_token": self.token_for(identity.email), "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}
        return None


def _answer(handler: BaseHTTPRequestHandler, status: int, content_type: str, text: str) -> None:
    payload = text.encode()
    handler.send_response(status)
    handler.send_header("Metadata-Flavor", "Google")
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
