"""An in-memory GCS JSON API on loopback that honours generation preconditions and records every request.

gcp-storage-emulator ignores ifGenerationMatch (it overwrites where GCS answers 412), so the data check's
races and crash paths are tested here: objects, uploads (multipart), media downloads, listings with prefix and
delimiter, copyTo with sourceGeneration, rewriteTo (objects.rewrite: sourceGeneration, ifSourceGenerationMatch,
and continued with a rewriteToken when `rewrite_chunk` is set, as GCS does for large or cross-location copies),
deletes, each with ifGenerationMatch as GCS applies it (0: must not exist; N: must be at generation N; else 412).
Objects carry crc32c and md5Hash as the storage v1 discovery document describes them (base64; crc32c big-endian).
Only the calls the data check and the registry make are answered.

A client on the Google API seam (GOOGLE_APIS_BASE_URL, contracts/google_apis.py) sends its paths under
/storage.googleapis.com/; `serving(..., others=...)` answers other hosts' paths on the same port.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
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
    # Bytes one rewrite call copies (None: all at once); more needs further calls with the rewriteToken.
    rewrite_chunk: int | None = None
    _rewrites: dict[str, tuple[tuple[str, str, str, str], int]] = field(default_factory=dict)
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
                "metageneration": "1", "size": str(len(data)), "crc32c": _crc32c(data),
                "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode()}  # fmt: skip

    def precondition(self, bucket: str, name: str, query: dict[str, str]) -> int | None:
        """The HTTP status the object's preconditions give, or None when they hold."""
        current = self.objects.get((bucket, name))
        wanted = query.get("ifGenerationMatch")
        if wanted is not None and (current[0] if current else 0) != int(wanted):
            return 412
        return None


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


# Answers another host's request: (method, path after the host, query, body) -> (status, JSON body).
OtherHost = Callable[[str, str, dict[str, str], bytes], tuple[int, dict]]
STORAGE_PREFIX = "/storage.googleapis.com"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGcs
    others: ClassVar[dict[str, OtherHost]] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(
        self, status: int, body: bytes | dict, content_type: str = "application/json", headers: dict | None = None
    ) -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._answer(status, {"error": {"code": status, "message": message, "errors": [{"message": message}]}})

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        raw = url.path.removeprefix(STORAGE_PREFIX)
        for host, other in self.others.items():
            if raw.startswith(f"/{host}/"):
                status, answer = other(method, raw[len(host) + 1 :], query, body)
                self._answer(status, answer)
                return
        fake = self.fake
        with fake.lock:
            fake.requests.append(Recorded(method, unquote(raw), query))
            answer = _dispatch(fake, method, raw, query, body, self.headers.get("Content-Type", ""))
        self._answer(*answer) if answer[0] < 400 else self._error(answer[0], str(answer[1]))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


_OBJECT = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/([^/]+)$")
_COPY = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/copyTo/b/([^/]+)/o/([^/]+)$")
_REWRITE = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/]+)/rewriteTo/b/([^/]+)/o/([^/]+)$")


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
    if method == "POST" and (m := _REWRITE.match(raw)):
        return _rewrite(fake, tuple(unquote(g) for g in m.groups()), query)  # type: ignore[arg-type]
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
        # GCS's download headers, which the client copies into the Blob's properties.
        resource = fake.resource(bucket, name)
        headers = {"X-Goog-Generation": resource["generation"], "X-Goog-Metageneration": resource["metageneration"],
                   "X-Goog-Hash": f"crc32c={resource['crc32c']},md5={resource['md5Hash']}"}  # fmt: skip
        return 200, current[1], "application/octet-stream", headers
    return 200, fake.resource(bucket, name)


def _rewrite(fake: FakeGcs, names: tuple[str, str, str, str], query: dict[str, str]) -> tuple:
    """objects.rewrite: the source (at sourceGeneration, under ifSourceGenerationMatch) to the destination (under
    ifGenerationMatch); with `rewrite_chunk` set, in calls of that many bytes linked by a rewriteToken."""
    bucket, source, target_bucket, target = names
    current = fake.objects.get((bucket, source))
    wanted = query.get("sourceGeneration")
    if current is None or (wanted is not None and current[0] != int(wanted)):
        return 404, f"{source}#{wanted}: no such object"
    if "ifSourceGenerationMatch" in query and current[0] != int(query["ifSourceGenerationMatch"]):
        return 412, f"{source}: source precondition failed"
    if (status := fake.precondition(target_bucket, target, query)) is not None:
        return status, f"{target}: precondition failed"
    size = len(current[1])
    done = 0
    if "rewriteToken" in query:
        if fake._rewrites.get(query["rewriteToken"], (None, 0))[0] != names:
            return 400, "rewriteToken does not belong to this rewrite"
        done = fake._rewrites.pop(query["rewriteToken"])[1]
    done = min(size, done + (fake.rewrite_chunk or size))
    answer = {"kind": "storage#rewriteResponse", "totalBytesRewritten": str(done), "objectSize": str(size)}
    if done < size:
        token = f"token-{len(fake._rewrites)}-{done}"
        fake._rewrites[token] = (names, done)
        return 200, {**answer, "done": False, "rewriteToken": token}
    fake.objects[(target_bucket, target)] = (next(fake._generations), current[1])
    return 200, {**answer, "done": True, "resource": fake.resource(target_bucket, target)}


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
def serving(fake: FakeGcs, others: dict[str, OtherHost] | None = None) -> Iterator[str]:
    """Serve `fake` on a free loopback port; yields the endpoint for client_options api_endpoint (or, for a
    client on the seam, GOOGLE_APIS_BASE_URL). `others`: {host: answerer} for other APIs' requests."""
    handler = type("Handler", (_Handler,), {"fake": fake, "others": dict(others or {})})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
