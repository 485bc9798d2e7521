"""The data area in Cloud Storage (gs://<prefix>-data/<dataset>/), safe under crashes and concurrent checks.

Every write is create-only (ifGenerationMatch=0): a 412 means the result is already there. A move copies the
frozen generation (sourceGeneration) to a create-only target, then deletes the source with that generation as
precondition, so a file rewritten after the freeze stays in incoming/ for the next batch. A span is two
objects: span-<N>/batch.json, the create-only claim of number N for a batch (the loser of a race takes N+1),
then span-<N>/<dataset>.csv, one object and so atomic. The pipeline reads span-<N>/*.csv, which the claim does
not match: a span is visible only with its data, complete. One check at a time holds the GCS lease (lease.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed  # type: ignore[import-not-found]

from contracts.data_layout import LEASE, SPAN_MARKER, SPAN_PREFIX, span_file, span_folder, span_number
from release.datacheck.lease import Lease
from release.datacheck.store import INCOMING, Entry, is_landed


def split_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/some/prefix -> ("bucket", "some/prefix/")."""
    if not uri.startswith("gs://") or "/" not in uri.removeprefix("gs://"):
        raise ValueError(f"{uri!r}: not a gs://bucket/prefix data area")
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/") + "/"


@dataclass
class GcsStore:
    bucket: Any  # google.cloud.storage.Bucket
    prefix: str  # "<dataset>/"
    lease_seconds: float = 900.0
    wait_seconds: float = 900.0
    _lease: Lease | None = field(default=None, init=False)

    @classmethod
    def of(cls, client: Any, uri: str, **options: float) -> GcsStore:
        name, prefix = split_uri(uri)
        return cls(client.bucket(name), prefix, **options)

    @property
    def where(self) -> str:
        return f"gs://{self.bucket.name}/{self.prefix}"

    @property
    def span_file(self) -> str:
        """The CSV a batch's span holds: <dataset>.csv, the dataset being the data area's last folder."""
        return span_file(self.prefix.rstrip("/").rsplit("/", 1)[-1])

    def _blob(self, key: str, generation: int | None = None) -> Any:
        return self.bucket.blob(self.prefix + key, generation=generation)

    def seed(self, shipped: Path) -> list[str]:
        folders = (
            sorted(p for p in shipped.iterdir() if p.is_dir() and span_number(p.name) is not None)
            if shipped.is_dir()
            else []
        )
        if not folders:
            raise FileNotFoundError(f"{shipped}: no span-<N> folders with data to seed from")
        seeded = []
        for folder in folders:
            present = set(self.keys(f"{folder.name}/"))
            if f"{folder.name}/{SPAN_MARKER}" in present:
                continue  # a span the data check made from a batch: never mixed with shipped files
            # Create-only, file by file: a rerun (or one after a crash halfway) completes what is missing.
            missing = [p for p in sorted(folder.iterdir()) if f"{folder.name}/{p.name}" not in present]
            if any([self.write_new(f"{folder.name}/{p.name}", p.read_bytes()) for p in missing]):
                seeded.append(folder.name)
        return seeded

    @contextmanager
    def locked(self) -> Iterator[None]:
        self._lease = Lease(self._blob(LEASE), self.lease_seconds)
        self._lease.acquire(self.wait_seconds)
        try:
            yield
        finally:
            self._lease.release()
            self._lease = None

    def renew(self) -> None:
        if self._lease is not None:
            self._lease.renew()

    def prepare(self) -> None:
        """Nothing partial exists on GCS: an object is whole or absent, and a span claim waits for its batch."""

    def incoming(self) -> list[Entry]:
        listed = self.bucket.client.list_blobs(self.bucket, prefix=f"{self.prefix}{INCOMING}/", delimiter="/")
        entries = (Entry(b.name.rsplit("/", 1)[-1], int(b.size or 0), int(b.generation)) for b in listed)
        return sorted((e for e in entries if is_landed(e.name)), key=lambda e: e.name)

    def read_entry(self, entry: Entry) -> bytes | None:
        try:
            return bytes(self._blob(f"{INCOMING}/{entry.name}").download_as_bytes(if_generation_match=entry.generation))
        except (NotFound, PreconditionFailed):
            return None  # replaced or removed since the listing: the next check sees the new version

    def read(self, key: str) -> bytes | None:
        try:
            return bytes(self._blob(key).download_as_bytes())
        except NotFound:
            return None

    def keys(self, prefix: str) -> list[str]:
        listed = self.bucket.client.list_blobs(self.bucket, prefix=self.prefix + prefix)
        return sorted(b.name.removeprefix(self.prefix) for b in listed)

    def write_new(self, key: str, data: bytes) -> bool:
        content_type = "text/csv" if key.endswith(".csv") else "application/json"
        try:
            self._blob(key).upload_from_string(data, content_type=content_type, if_generation_match=0)
        except PreconditionFailed:
            return False
        return True

    def move(self, name: str, target: str, sha256: str, generation: int | None) -> bool:
        if generation is None:
            raise ValueError(f"incoming/{name}: the manifest has no generation (frozen outside GCS?)")
        source = self._blob(f"{INCOMING}/{name}")
        try:
            self.bucket.copy_blob(
                source, self.bucket, self.prefix + target, source_generation=generation, if_generation_match=0
            )
        except PreconditionFailed:
            pass  # the target exists: a move that crashed after its copy
        except NotFound:
            if self.read(target) is None:
                return False  # the frozen generation is gone and was never moved: replaced by a new arrival
        try:
            source.delete(if_generation_match=generation)
        except PreconditionFailed:
            pass  # rewritten after the freeze: the new version stays in incoming/ for the next batch
        except NotFound:
            pass  # deleted by the crashed move
        return True

    def remove(self, prefix: str) -> None:
        for blob in self.bucket.client.list_blobs(self.bucket, prefix=self.prefix + prefix):
            # NotFound: gone already; PreconditionFailed: rewritten, a create-only writer holds it now.
            with contextlib.suppress(NotFound, PreconditionFailed):
                blob.delete(if_generation_match=blob.generation)

    def span_numbers(self) -> list[int]:
        listed = self.bucket.client.list_blobs(self.bucket, prefix=f"{self.prefix}{SPAN_PREFIX}")
        found = (
            span_number(b.name.removeprefix(self.prefix).split("/", 1)[0])
            for b in listed
            if "/" in b.name.removeprefix(self.prefix)
        )
        return sorted({n for n in found if n is not None})

    def span_of_batch(self, batch: str) -> int | None:
        for number in self.span_numbers():
            marker = self.read(f"{span_folder(number)}/{SPAN_MARKER}")
            if marker and json.loads(marker).get("batch") == batch:
                return number
        return None

    def write_span(self, batch: str, data: bytes) -> int:
        number = self.span_of_batch(batch)
        while number is None:
            candidate = (self.span_numbers() or [0])[-1] + 1
            if self.write_new(f"{span_folder(candidate)}/{SPAN_MARKER}", json.dumps({"batch": batch}).encode() + b"\n"):
                number = candidate
        self.write_new(f"{span_folder(number)}/{self.span_file}", data)  # False: written before a crash, the same bytes
        return number

    def span_rows(self, number: int) -> bytes | None:
        return self.read(f"{span_folder(number)}/{self.span_file}")
