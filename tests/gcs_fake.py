"""An in-memory GCS JSON API on loopback that honours generation preconditions and records every request.

gcp-storage-emulator ignores ifGenerationMatch (it overwrites where GCS answers 412), so the data check's
races and crash paths are tested here: objects, uploads (multipart), media downloads, listings with prefix and
delimiter, copyTo with sourceGeneration, deletes, each with ifGenerationMatch as GCS applies it (0: must not
exist; N: must be at generation N; else 412). Only the calls the check makes are answered.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # unquoted: /storage/v1/b/<bucket>/o/<object name>
    query: dict[str, str]
    name: str = ""  # an upload's object name (it travels in the multipart body, not the path)


@dataclass
class FakeGcs:
    objects: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)  # (bucket, name) -> gen, data
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _generations: Iterator[int] = field(default_factory=lambda: itertools.count(1_700_000_000_000_001))

    def put(self, bucket: str, name: str, data: bytes) -> int:
        """Write as a producer would (unconditionally): the object's new generation."""
        with self.lock:
            generation = next(self._generations)
            self.objects[(bucket, name)] = (generation, data)
            return generation

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- the API, under the lock: each request is atomic, as GCS's per-object operations are --
    def resource(self, bucket: str, name: str) -> dict[str, str]:
        generation, data = self.objects[(bucket, name)]
        return {"kind": "storage#object", "bucket": bucket, "name": name, "generation": str(generation),
                "metageneration": "1", "size": str(len(data))}  # fmt: skip

    def precondition(self, bucket: str, name: str, query: dict[str, str]) -> int | None:
        """The HTTP status the object's preconditions give, or None when they hold."""
        current = self.objects.get((bucket, name))
        wanted = query.get("ifGenerationMatch")
        if wanted is not None and (current[0] if current else 0) != int(wanted):
            return 412
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGcs

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes | dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._answer(status, {"error": {"code": status, "message": message, "errors": [{"message": message}]}})

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = unquote(url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.fake
        with fake.lock:
            fake.requests.append(Recorded(method, path, query))
            answer = _dispatch(fake, method, url.path, query, body, self.headers.get("Content-Type", ""))
        self._answer(*answer) if answer[0] < 400 else self._error(answer[0], str(answer[1]))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


_OBJECT = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/([^/]+)$")
_COPY = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/copyTo/b/([^/]+)/o/([^/]+)$")


def _dispatch(fake: FakeGcs, method: str, raw: str, query: dict[str, str], body: bytes, ctype: str) -> tuple:
    if method == "POST" and (m := re.match(r"^/upload/storage/v1/b/([^/]+)/o$", raw)):
        bucket = m.group(1)
        metadata, data = _multipart(body, ctype)
        name = metadata.get("name") or query["name"]
        fake.requests[-1].name = name
        if (status := fake.precondition(bucket, name, query)) is not None:
            return status, f"{name}: precondition failed"
        fake.objects[(bucket, name)] = (next(fake._generations), data)
        return 200, fake.resource(bucket, name)
    if method == "POST" and (m := _COPY.match(raw)):
        bucket, source, target_bucket, target = (unquote(g) for g in m.groups())
        current = fake.objects.get((bucket, source))
        wanted = query.get("sourceGeneration")
        if current is None or (wanted is not None and current[0] != int(wanted)):
            return 404, f"{source}#{wanted}: no such object"
        if (status := fake.precondition(target_bucket, target, query)) is not None:
            return status, f"{target}: precondition failed"
        fake.objects[(target_bucket, target)] = (next(fake._generations), current[1])
        return 200, fake.resource(target_bucket, target)
    if method == "GET" and (m := re.match(r"^/storage/v1/b/([^/]+)/o$", raw)):
        return 200, _listing(fake, m.group(1), query.get("prefix", ""), query.get("delimiter"))
    if (m := _OBJECT.match(raw)) is None:
        return 400, f"{method} {raw}: not answered by the fake"
    bucket, name = m.group(1), unquote(m.group(2))
    current = fake.objects.get((bucket, name))
    if current is None or ("generation" in query and int(query["generation"]) != current[0]):
        return 404, f"{name}: no such object"
    if (status := fake.precondition(bucket, name, query)) is not None:
        return status, f"{name}: precondition failed"
    if method == "DELETE":
        del fake.objects[(bucket, name)]
        return 204, b""
    if query.get("alt") == "media":
        return 200, current[1], "application/octet-stream"
    return 200, fake.resource(bucket, name)


def _listing(fake: FakeGcs, bucket: str, prefix: str, delimiter: str | None) -> dict:
    items, prefixes = [], set()
    for name in fake.names(bucket, prefix):
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
        else:
            items.append(fake.resource(bucket, name))
    return {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)}


def _multipart(body: bytes, content_type: str) -> tuple[dict, bytes]:
    """The (metadata, media) parts of a multipart/related upload."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = [part.get_payload(decode=True) for part in message.iter_parts()]
    return json.loads(parts[0]), parts[1]


@contextlib.contextmanager
def serving(fake: FakeGcs) -> Iterator[str]:
    """Serve `fake` on a free loopback port; yields the endpoint for client_options api_endpoint."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
