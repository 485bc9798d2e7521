"""Cloud Storage, JSON API v1 (https://cloud.google.com/storage/docs/json_api/v1), from the stand-in's own state.

Buckets come from the stacks (name, project, versioning, lifecycle rules). Objects keep every generation: a
versioned bucket keeps an overwritten or deleted object as a noncurrent version. Served: buckets.get;
objects.get (metadata, or the media with `alt=media`, also on the /download path, with x-goog-hash),
objects.list (prefix, delimiter, versions, paging), objects.insert (simple, multipart and resumable uploads,
as google-cloud-storage sends them), objects.delete, copy, rewrite, patch and update; every generation and
metageneration precondition (412 conditionNotMet when it does not hold). Permissions, as Google's table of
JSON methods says (https://cloud.google.com/storage/docs/access-control/iam-json): get and list read, insert
creates (and deletes when it replaces a live object), copy and rewrite read the source and create (and
delete) the destination, patch and update update. Lifecycle rules run when the driver says so, on its clock.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import google_crc32c

from rehearsal.standin import discovery
from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import bucket_target, object_target
from rehearsal.standin.server import Call, Response

DAY = 86400.0


class Clock:
    """Real time plus an offset the driver advances (to age objects past their lifecycle rules)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, days: float) -> None:
        self.offset += days * DAY


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Version:
    bucket: str
    name: str
    generation: int
    data: bytes
    created: float
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    metageneration: int = 1
    updated: float = 0.0
    noncurrent_since: float | None = None

    def resource(self, base_url: str) -> dict[str, Any]:
        path = f"b/{self.bucket}/o/{quote(self.name, safe='')}"
        resource: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage.googleapis.com/storage/v1/{path}",
            "mediaLink": (
                f"{base_url}/storage.googleapis.com/download/storage/v1/{path}?generation={self.generation}&alt=media"
            ),
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": str(self.metageneration),
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.data)),
            "md5Hash": base64.b64encode(hashlib.md5(self.data).digest()).decode(),
            "crc32c": crc32c(self.data),
            "etag": base64.b64encode(f"{self.generation}/{self.metageneration}".encode()).decode(),
            "timeCreated": rfc3339(self.created),
            "updated": rfc3339(self.updated or self.created),
            "timeStorageClassUpdated": rfc3339(self.created),
        }
        if self.metadata:
            resource["metadata"] = dict(self.metadata)
        if self.noncurrent_since is not None:
            resource["timeDeleted"] = rfc3339(self.noncurrent_since)
        return resource


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


@dataclass
class Bucket:
    name: str
    project: str
    versioning: bool = False
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    live: dict[str, Version] = field(default_factory=dict)
    noncurrent: list[Version] = field(default_factory=list)


_generations = itertools.count(int(time.time() * 1_000_000))
_GENERATION_LOCK = threading.Lock()


def _next_generation() -> int:
    with _GENERATION_LOCK:
        return next(_generations)


@dataclass
class Upload:
    bucket: str
    name: str
    metadata: dict[str, Any]
    query: dict[str, str]
    received: bytearray = field(default_factory=bytearray)


class Storage:
    def __init__(self, clock: Clock, numbers: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.numbers = numbers or {}  # project id -> number (a bucket's projectNumber)
        self.buckets: dict[str, Bucket] = {}
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.RLock()
        self.lifecycle_log: list[str] = []

    # --- the driver's direct access (seeding what no account of the stacks writes, reading results) -------

    def bucket(self, name: str) -> Bucket:
        if name not in self.buckets:
            raise ApiError(404, "The specified bucket does not exist.")
        return self.buckets[name]

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> Version:
        with self._lock:
            return self._store(self.bucket(bucket), name, data, content_type, {})

    def read(self, bucket: str, name: str) -> bytes | None:
        version = self.buckets[bucket].live.get(name) if bucket in self.buckets else None
        return version.data if version else None

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(n for n in self.bucket(bucket).live if n.startswith(prefix))

    # --- the API -------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        handlers = {
            "storage.buckets.get": self._bucket_get,
            "storage.objects.get": self._get,
            "storage.objects.list": self._list,
            "storage.objects.insert": self._insert,
            "storage.objects.delete": self._delete,
            "storage.objects.copy": self._copy,
            "storage.objects.rewrite": self._copy,
            "storage.objects.patch": self._patch,
            "storage.objects.update": self._patch,
        }
        handler = handlers.get(call.method.id)
        if handler is None:
            raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
        with self._lock:
            return handler(call)

    def _bucket_get(self, call: Call) -> Response:
        bucket = self.bucket(call.params["bucket"])
        call.require("storage.buckets.get", bucket_target(bucket.name, bucket.project))
        return Response(
            json={
                "kind": "storage#bucket",
                "id": bucket.name,
                "name": bucket.name,
                "projectNumber": self.numbers.get(bucket.project, "0"),
                "metageneration": "1",
                "location": "EUROPE-WEST4",
                "storageClass": "STANDARD",
                "versioning": {"enabled": bucket.versioning},
                "timeCreated": rfc3339(self.clock.now()),
                "updated": rfc3339(self.clock.now()),
            }
        )

    def _target(self, call: Call, key: str = "bucket", name_key: str = "object") -> tuple[Bucket, str]:
        bucket = self.bucket(call.params[key])
        return bucket, call.params[name_key]

    def _version(self, bucket: Bucket, name: str, generation: str | None) -> Version:
        if generation is None:
            found = bucket.live.get(name)
        else:
            found = next(
                (
                    v
                    for v in [*bucket.noncurrent, *bucket.live.values()]
                    if v.name == name and v.generation == int(generation)
                ),
                None,
            )
        if found is None:
            raise ApiError(404, f"No such object: {bucket.name}/{name}")
        return found

    def _get(self, call: Call) -> Response:
        bucket, name = self._target(call)
        call.require("storage.objects.get", object_target(bucket.name, name, bucket.project))
        version = self._version(bucket, name, call.query.get("generation"))
        _preconditions(call.query, version, "")
        if call.query.get("alt") != "media":
            return Response(json=version.resource(call.base_url))
        return _media(version, call.headers)

    def _list(self, call: Call) -> Response:
        bucket = self.bucket(call.params["bucket"])
        call.require("storage.objects.list", bucket_target(bucket.name, bucket.project))
        q = call.query
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter")
        versions = [*bucket.live.values()] + (bucket.noncurrent if q.get("versions") == "true" else [])
        items, prefixes = [], set()
        for version in sorted(versions, key=lambda v: (v.name, v.generation)):
            name = version.name
            if not name.startswith(prefix) or name < q.get("startOffset", "") or name >= q.get("endOffset", "\uffff"):
                continue
            if delimiter and delimiter in name[len(prefix) :]:
                cut = name.index(delimiter, len(prefix)) + len(delimiter)
                prefixes.add(name[:cut])
                continue
            items.append(version)
        start = int(q.get("pageToken") or 0)
        size = int(q.get("maxResults") or 1000)
        page = items[start : start + size]
        body: dict[str, Any] = {"kind": "storage#objects", "items": [v.resource(call.base_url) for v in page]}
        if prefixes:
            body["prefixes"] = sorted(prefixes)
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return Response(json=body)

    def _insert(self, call: Call) -> Response:
        bucket = self.bucket(call.params["bucket"])
        upload_type = call.query.get("uploadType", "media" if call.method.media else "")
        if call.method.media == "resumable-data":
            return self._resume(call, bucket)
        if upload_type == "multipart":
            metadata, data = _multipart(call)
        elif upload_type == "resumable":
            metadata = call.body if isinstance(call.body, dict) else (json.loads(call.raw) if call.raw.strip() else {})
            discovery.check_body(call.method, metadata, call.api)
            name = metadata.get("name") or call.query.get("name")
            if not name:
                raise ApiError(400, "Required parameter: name")
            self._authorize_write(call, bucket, name)
            upload_id = base64.urlsafe_b64encode(
                hashlib.sha256(f"{name}{time.time_ns()}".encode()).digest()[:18]
            ).decode()
            self._uploads[upload_id] = Upload(bucket.name, name, metadata, dict(call.query))
            location = (
                f"{call.base_url}/storage.googleapis.com/upload/storage/v1/b/{bucket.name}/o"
                f"?uploadType=resumable&name={quote(name, safe='')}&upload_id={upload_id}"
            )
            return Response(json={}, headers={"Location": location})
        elif upload_type == "media":
            metadata, data = {}, call.raw
        else:
            raise ApiError(400, f"uploadType={upload_type!r}: expected media, multipart or resumable")
        name = metadata.get("name") or call.query.get("name")
        if not name:
            raise ApiError(400, "Required parameter: name")
        self._authorize_write(call, bucket, name)
        return Response(json=self._write(call.query, bucket, name, data, metadata).resource(call.base_url))

    def _authorize_write(self, call: Call, bucket: Bucket, name: str) -> None:
        target = object_target(bucket.name, name, bucket.project)
        call.require("storage.objects.create", target)
        # Replacing a live object needs delete as well (a create-only write, ifGenerationMatch=0, never does).
        if name in bucket.live and call.query.get("ifGenerationMatch") != "0":
            call.require("storage.objects.delete", target)

    def _resume(self, call: Call, bucket: Bucket) -> Response:
        upload = self._uploads.get(call.query.get("upload_id", ""))
        if upload is None or upload.bucket != bucket.name:
            raise ApiError(404, "No such upload session (or it expired)")
        # The session was authorized when it started; the data requests carry the same caller.
        span = next((v for k, v in call.headers.items() if k.lower() == "content-range"), "")
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", span.strip()) if span else None
        if span and match is None:
            raise ApiError(400, f"Content-Range {span!r} is malformed")
        if match and match.group(1) is not None:
            if int(match.group(1)) != len(upload.received):
                raise ApiError(400, f"Content-Range starts at {match.group(1)}, expected {len(upload.received)}")
            upload.received += call.raw
        elif not span:
            upload.received += call.raw
        total = match.group(3) if match else str(len(upload.received))
        if total == "*" or int(total) != len(upload.received):
            headers = {"Range": f"bytes=0-{len(upload.received) - 1}"} if upload.received else {}
            return Response(308, data=b"", headers=headers)
        del self._uploads[call.query["upload_id"]]
        version = self._write(upload.query, bucket, upload.name, bytes(upload.received), upload.metadata)
        return Response(json=version.resource(call.base_url))

    def _write(
        self, query: dict[str, str], bucket: Bucket, name: str, data: bytes, metadata: dict[str, Any]
    ) -> Version:
        _preconditions(query, bucket.live.get(name), "")
        content_type = metadata.get("contentType") or "application/octet-stream"
        return self._store(bucket, name, data, content_type, dict(metadata.get("metadata") or {}))

    def _store(self, bucket: Bucket, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> Version:
        now = self.clock.now()
        previous = bucket.live.get(name)
        if previous is not None and bucket.versioning:
            previous.noncurrent_since = now
            bucket.noncurrent.append(previous)
        version = Version(bucket.name, name, _next_generation(), data, now, content_type, metadata, updated=now)
        bucket.live[name] = version
        return version

    def _delete(self, call: Call) -> Response:
        bucket, name = self._target(call)
        call.require("storage.objects.delete", object_target(bucket.name, name, bucket.project))
        version = self._version(bucket, name, call.query.get("generation"))
        _preconditions(call.query, version, "")
        self._remove(bucket, version)
        return Response(204)

    def _remove(self, bucket: Bucket, version: Version) -> None:
        """Delete one version: a live one becomes noncurrent in a versioned bucket; a noncurrent one is gone."""
        if bucket.live.get(version.name) is version:
            del bucket.live[version.name]
            if bucket.versioning:
                version.noncurrent_since = self.clock.now()
                bucket.noncurrent.append(version)
        elif version in bucket.noncurrent:
            bucket.noncurrent.remove(version)

    def _copy(self, call: Call) -> Response:
        source_bucket, source_name = self._target(call, "sourceBucket", "sourceObject")
        target_bucket, target_name = self._target(call, "destinationBucket", "destinationObject")
        call.require("storage.objects.get", object_target(source_bucket.name, source_name, source_bucket.project))
        self._authorize_write(call, target_bucket, target_name)
        source = self._version(source_bucket, source_name, call.query.get("sourceGeneration"))
        _preconditions(call.query, source, "Source")
        overrides = call.body if isinstance(call.body, dict) else {}
        metadata = {
            "contentType": overrides.get("contentType") or source.content_type,
            "metadata": overrides.get("metadata", source.metadata),
        }
        version = self._write(call.query, target_bucket, target_name, source.data, metadata)
        resource = version.resource(call.base_url)
        if call.method.id == "storage.objects.rewrite":
            size = str(len(source.data))
            return Response(
                json={
                    "kind": "storage#rewriteResponse",
                    "totalBytesRewritten": size,
                    "objectSize": size,
                    "done": True,
                    "resource": resource,
                }
            )
        return Response(json=resource)

    def _patch(self, call: Call) -> Response:
        bucket, name = self._target(call)
        call.require("storage.objects.update", object_target(bucket.name, name, bucket.project))
        version = self._version(bucket, name, call.query.get("generation"))
        _preconditions(call.query, version, "")
        body = call.body if isinstance(call.body, dict) else {}
        if "metadata" in body:
            version.metadata = {k: v for k, v in (body["metadata"] or {}).items() if v is not None}
        if body.get("contentType"):
            version.content_type = body["contentType"]
        version.metageneration += 1
        version.updated = self.clock.now()
        return Response(json=version.resource(call.base_url))

    # --- lifecycle -------------------------------------------------------------------------------------------

    def apply_lifecycle(self) -> list[str]:
        """Run every bucket's Delete rules at the clock's time; returns what each deleted, as gs:// URIs."""
        deleted: list[str] = []
        now = self.clock.now()
        with self._lock:
            for bucket in self.buckets.values():
                for rule in bucket.lifecycle:
                    if (rule.get("action") or {}).get("type") != "Delete":
                        continue
                    condition = rule.get("condition") or {}
                    for version in [*bucket.live.values(), *bucket.noncurrent]:
                        if _matches(condition, version, bucket, now):
                            self._remove(bucket, version)
                            state = (
                                "live"
                                if version.noncurrent_since is None or version in bucket.noncurrent
                                else "noncurrent"
                            )
                            deleted.append(f"gs://{bucket.name}/{version.name}#{version.generation} ({state})")
        self.lifecycle_log += deleted
        return deleted


def _matches(condition: dict[str, Any], version: Version, bucket: Bucket, now: float) -> bool:
    """All of a rule's conditions hold (Terraform's lifecycle_rule.condition names)."""
    live = bucket.live.get(version.name) is version
    state = condition.get("with_state") or "ANY"
    if (state == "LIVE" and not live) or (state == "ARCHIVED" and live):
        return False
    checks = []
    if condition.get("age") is not None:
        checks.append(now - version.created >= float(condition["age"]) * DAY)
    if condition.get("days_since_noncurrent_time") is not None:
        checks.append(
            not live
            and version.noncurrent_since is not None
            and now - version.noncurrent_since >= float(condition["days_since_noncurrent_time"]) * DAY
        )
    if condition.get("num_newer_versions") is not None:
        newer = [
            v
            for v in [*bucket.noncurrent, *bucket.live.values()]
            if v.name == version.name and v.generation > version.generation
        ]
        checks.append(len(newer) >= int(condition["num_newer_versions"]))
    if condition.get("matches_prefix"):
        checks.append(any(version.name.startswith(p) for p in condition["matches_prefix"]))
    if condition.get("matches_suffix"):
        checks.append(any(version.name.endswith(s) for s in condition["matches_suffix"]))
    return bool(checks) and all(checks)


def _preconditions(query: dict[str, str], version: Version | None, prefix: str) -> None:
    """The if(Source)(Meta)Generation(Not)Match parameters against `version` (None: no live object)."""
    generation = version.generation if version else 0
    metageneration = version.metageneration if version else None
    tests = {
        f"if{prefix}GenerationMatch": lambda v: int(v) == generation,
        f"if{prefix}GenerationNotMatch": lambda v: int(v) != generation,
        f"if{prefix}MetagenerationMatch": lambda v: metageneration is not None and int(v) == metageneration,
        f"if{prefix}MetagenerationNotMatch": lambda v: metageneration is None or int(v) != metageneration,
    }
    for name, test in tests.items():
        if name in query and not test(query[name]):
            raise ApiError(412, "At least one of the pre-conditions you specified did not hold.")


def _media(version: Version, headers: dict[str, str]) -> Response:
    data = version.data
    status, extra = 200, {}
    span = next((v for k, v in headers.items() if k.lower() == "range"), "")
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", span.strip()) if span else None
    if match:
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else len(data) - 1
        if start >= len(data) and data:
            raise ApiError(416, "The requested range cannot be satisfied.")
        extra["Content-Range"] = f"bytes {start}-{min(end, len(data) - 1)}/{len(data)}"
        data, status = data[start : end + 1], 206
    return Response(
        status,
        data=data,
        headers={
            "Content-Type": version.content_type,
            "x-goog-hash": f"crc32c={crc32c(version.data)},md5={md5(version.data)}",
            "x-goog-generation": str(version.generation),
            "x-goog-metageneration": str(version.metageneration),
            "x-goog-stored-content-length": str(len(version.data)),
            "x-goog-stored-content-encoding": "identity",
            **extra,
        },
    )


def _multipart(call: Call) -> tuple[dict[str, Any], bytes]:
    content_type = next((v for k, v in call.headers.items() if k.lower() == "content-type"), "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or not match:
        raise ApiError(400, "uploadType=multipart needs a multipart/related body with a boundary")
    boundary = b"--" + match.group(1).encode()
    parts = [p for p in call.raw.split(boundary) if p.strip() not in (b"", b"--")]
    if len(parts) != 2:
        raise ApiError(400, f"a multipart upload has 2 parts (metadata, media); got {len(parts)}")
    sections = [p.lstrip(b"\r\n").split(b"\r\n\r\n", 1) for p in parts]
    metadata = json.loads(sections[0][1]) if sections[0][1].strip() else {}
    discovery.check_body(call.method, metadata, call.api)
    data = sections[1][1]
    if data.endswith(b"\r\n"):
        data = data[:-2]
    return metadata, data
