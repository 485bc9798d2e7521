"""Create-only artifact stores: a local folder or a GCS bucket, behind one small protocol.

Paths are relative, '/'-separated names inside the store ("modules/<sha>/trainer.py"); `uri` turns one into
what a run references (an absolute local path, or gs://bucket/prefix/path). Published objects are never
overwritten. The one mutable object, the current-template pointer (release/publishing/current.py), is replaced
only through `read_versioned`/`replace`: a compare-and-set on the version read (GCS: the object generation
as `ifGenerationMatch`, 0 when absent; locally: the content's sha256, under a lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from contracts.google_apis import storage_client_options
from contracts.run_request import BackendUnavailableError

# Temp files of LocalStore.write_new; hidden from list() because they are not (yet) objects.
_TMP_PREFIX = ".publish-tmp-"
_GS_URI = re.compile(r"^gs://(?P<bucket>[^/]*)/?(?P<prefix>.*)$")


class PublishConflictError(Exception):
    """An object already exists at a path with different bytes: published content is never overwritten."""


class StaleWriteError(Exception):
    """The object changed since it was read (GCS answers 412 Precondition Failed): read it again."""


# What `read_versioned` gives and `replace` takes: a GCS generation (0: no object), or a local content sha256.
Version = int | str


class ArtifactStore(Protocol):
    def uri(self, path: str) -> str:
        """Where `path` lives, as a run would reference it."""
        ...

    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> bytes:
        """The object's bytes; FileNotFoundError naming its uri if there is none."""
        ...

    def write_new(self, path: str, data: bytes) -> bool:
        """Create `path`: True if written, False if it already holds exactly `data`, else PublishConflictError."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Sorted paths of the objects whose path starts with `prefix` (a plain string prefix, as in GCS)."""
        ...

    def read_versioned(self, path: str) -> tuple[bytes | None, Version]:
        """The object's bytes (None: there is none) and the version `replace` compares against."""
        ...

    def replace(self, path: str, data: bytes, *, version: Version) -> None:
        """Write `path` if it is still at `version` (as read; an absent object's version when it was absent);
        StaleWriteError otherwise. Only for the current-template pointer."""
        ...


def check_path(path: str) -> str:
    """Reject absolute, empty-segment or '..' paths, so a path can never escape the store's root or prefix."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in path:
        raise ValueError(f"{path!r}: expected a relative '/'-separated path without '.', '..' or empty parts")
    return path


def _conflict(uri: str) -> PublishConflictError:
    return PublishConflictError(f"{uri} already exists with different content; published objects are never overwritten")


class LocalStore:
    """A folder on disk. Create-only through a temp file hard-linked into place, so a path appears whole or not
    at all, and of two concurrent writers exactly one creates it (os.link fails if the name exists)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _file(self, path: str) -> Path:
        return self.root / check_path(path)

    def uri(self, path: str) -> str:
        return str(self._file(path))

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def read(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundError(f"{self.uri(path)}: no such object") from None

    def write_new(self, path: str, data: bytes) -> bool:
        target = self._file(path)
        if target.is_file():
            return _same_or_conflict(self, path, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                # On disk before it becomes visible: a crash never leaves a published-but-empty file.
                os.fsync(out.fileno())
            os.link(tmp, target)
        except FileExistsError:
            # Another writer created it between our check and our link.
            return _same_or_conflict(self, path, data)
        finally:
            os.unlink(tmp)
        return True

    def list(self, prefix: str) -> list[str]:
        # Walk only the deepest folder the prefix names, then filter by the string prefix.
        folder_path = prefix.rpartition("/")[0]
        folder = self._file(folder_path) if folder_path else self.root
        if not folder.is_dir():
            return []
        paths = (
            p.relative_to(self.root).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(_TMP_PREFIX)
        )
        return sorted(p for p in paths if p.startswith(prefix))

    def read_versioned(self, path: str) -> tuple[bytes | None, Version]:
        try:
            data = self._file(path).read_bytes()
        except FileNotFoundError:
            return None, ""
        return data, hashlib.sha256(data).hexdigest()

    def replace(self, path: str, data: bytes, *, version: Version) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(target):
            _, current = self.read_versioned(path)
            if current != version:
                raise StaleWriteError(f"{target} changed since it was read; read it again")
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)  # whole or not at all: readers see the old record or the new one
            except BaseException:
                os.unlink(tmp)
                raise

    @staticmethod
    @contextlib.contextmanager
    def _locked(target: Path) -> Iterator[None]:
        """Writers of `target` take turns (flock on a hidden file beside it); readers need no lock."""
        with open(target.parent / f".{target.name}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield


# Worth a retry by the caller: the service or the network, not the request.
_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    gexc.RetryError,
    gexc.ServerError,
    gexc.TooManyRequests,
    auth_exc.TransportError,
)


class GcsStore:
    """Objects in a GCS bucket under an optional prefix. Create-only through `if_generation_match=0`."""

    def __init__(
        self,
        bucket_name: str,
        prefix: str = "",
        client: storage.Client | None = None,
        *,
        retry: Retry | None = DEFAULT_RETRY,
        timeout: float = 60.0,
    ) -> None:
        if not bucket_name:
            raise ValueError("GcsStore needs a bucket name")
        self.bucket_name = bucket_name
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_path(self.prefix)
        self._root = f"gs://{bucket_name}/{self.prefix}".rstrip("/")
        self._client = client
        # Every call retries transient errors itself (all our writes are preconditioned, so retries are safe);
        # what is left after the retry deadline is raised as BackendUnavailableError.
        self._call: dict[str, Any] = {"retry": retry, "timeout": timeout}

    def __repr__(self) -> str:
        return f"GcsStore({self._root!r})"

    @property
    def client(self) -> storage.Client:
        # Created on first use so building a store (e.g. in store_for) needs no credentials yet.
        if self._client is None:
            self._client = storage.Client(client_options=storage_client_options())
        return self._client

    def _name(self, path: str) -> str:
        check_path(path)
        return f"{self.prefix}/{path}" if self.prefix else path

    def _blob(self, path: str) -> storage.Blob:
        return self.client.bucket(self.bucket_name).blob(self._name(path))

    def uri(self, path: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(path)}"

    def exists(self, path: str) -> bool:
        try:
            return bool(self._blob(path).exists(**self._call))
        except _TRANSIENT as err:
            raise self._unavailable("exists", path, err) from err

    def read(self, path: str) -> bytes:
        try:
            return bytes(self._blob(path).download_as_bytes(**self._call))
        except gexc.NotFound:
            raise FileNotFoundError(f"{self.uri(path)}: no such object") from None
        except _TRANSIENT as err:
            raise self._unavailable("read", path, err) from err

    def write_new(self, path: str, data: bytes) -> bool:
        # Look first: the usual republish finds the object and uploads nothing. The precondition below is what
        # makes creation atomic on GCS (note: gcp-storage-emulator ignores preconditions, so tests rely on this).
        try:
            return _same_or_conflict(self, path, data)
        except FileNotFoundError:
            pass
        try:
            self._blob(path).upload_from_string(data, if_generation_match=0, checksum="crc32c", **self._call)
        except gexc.PreconditionFailed:
            # Another writer created it between our read and our upload.
            return _same_or_conflict(self, path, data)
        except _TRANSIENT as err:
            raise self._unavailable("write", path, err) from err
        return True

    def list(self, prefix: str) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            blobs = self.client.list_blobs(self.bucket_name, prefix=base + prefix, **self._call)
            return sorted(blob.name[len(base) :] for blob in blobs)
        except _TRANSIENT as err:
            raise self._unavailable("list", prefix, err) from err

    def read_versioned(self, path: str) -> tuple[bytes | None, Version]:
        bucket = self.client.bucket(self.bucket_name)
        for _ in range(3):  # replaced between the two requests: read the new generation
            try:
                blob = bucket.get_blob(self._name(path), **self._call)
                if blob is None:
                    return None, 0
                generation = int(blob.generation)
                # That generation's bytes exactly (the download names it), so bytes and version agree.
                return bytes(blob.download_as_bytes(**self._call)), generation
            except gexc.NotFound:
                continue
            except _TRANSIENT as err:
                raise self._unavailable("read", path, err) from err
        raise BackendUnavailableError(f"{self.uri(path)} kept changing while it was read; try again")

    def replace(self, path: str, data: bytes, *, version: Version) -> None:
        if not isinstance(version, int):
            raise TypeError(f"a GCS object's version is its generation (an int), got {version!r}")
        try:
            # Conditional, so the client's retries are safe: a retried upload that had landed gets 412 here.
            self._blob(path).upload_from_string(data, if_generation_match=version, checksum="crc32c", **self._call)
        except gexc.PreconditionFailed:
            raise StaleWriteError(f"{self.uri(path)} changed since generation {version}; read it again") from None
        except _TRANSIENT as err:
            raise self._unavailable("write", path, err) from err

    def _unavailable(self, action: str, path: str, err: Exception) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"GCS {action} of {self._root}/{path} failed, try again: {type(err).__name__}: {err}"
        )


def _same_or_conflict(store: ArtifactStore, path: str, data: bytes) -> bool:
    """An existing object: False if it holds exactly `data` (nothing to do), else PublishConflictError."""
    if store.read(path) == data:
        return False
    raise _conflict(store.uri(path))


def store_for(uri: str, client: storage.Client | None = None) -> ArtifactStore:
    """The store behind `uri`: gs://bucket[/prefix] gives a GcsStore, a local path (or file://) a LocalStore."""
    if uri.startswith("gs://"):
        match = _GS_URI.match(uri)
        if not match or not match["bucket"]:
            raise ValueError(f"{uri!r}: expected gs://<bucket>[/<prefix>]")
        return GcsStore(match["bucket"], match["prefix"], client)
    if uri.startswith("file://"):
        uri = uri.removeprefix("file://")
    elif re.match(r"^[a-z][a-z0-9+.-]*://", uri):
        raise ValueError(f"{uri!r}: unsupported scheme; use gs://<bucket>[/<prefix>] or a local path")
    if not uri:
        raise ValueError("empty store location; use gs://<bucket>[/<prefix>] or a local path")
    return LocalStore(Path(uri))
