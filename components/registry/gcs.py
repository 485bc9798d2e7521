"""The Cloud Storage I/O of registration and of loading a version: google-cloud-storage, built with the one
Google API seam (contracts/google_apis.py), never TensorFlow's or TFX's GCS filesystem.

Why not `tf.io.gfile` on gs://: TF's GCS filesystem cannot be pointed at another endpoint, so the cloud
rehearsal (which sends every Google API call to its stand-in) could not run the push. Objects whose names end
in "/" are folder placeholders (the console and some writers create them); they hold no file and are skipped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.google_apis import storage_client_options
from contracts.registry import RegistryError

SCHEME = "gs://"


def is_gcs(uri: str) -> bool:
    return uri.startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    """(bucket, object prefix without a trailing '/') of a gs:// URI; ValueError naming a malformed one."""
    bucket, _, prefix = uri.removeprefix(SCHEME).partition("/")
    if not is_gcs(uri) or not bucket:
        raise ValueError(f"{uri!r}: expected gs://<bucket>/<path>")
    return bucket, prefix.strip("/")


def storage_client(project: str | None = None, credentials: Any = None) -> Any:
    """A storage client on the endpoint the seam names, with Application Default Credentials unless given."""
    from google.cloud import storage

    return storage.Client(project=project, credentials=credentials, client_options=storage_client_options())


def list_files(client: Any, uri: str) -> list[tuple[str, Any]]:
    """(relative name, blob) of every object under the folder `uri`, sorted by name; [] when there is none."""
    bucket, prefix = split(uri)
    start = f"{prefix}/" if prefix else ""
    found = [
        (blob.name[len(start) :], blob)
        for blob in client.list_blobs(bucket, prefix=start)
        if not blob.name.endswith("/")
    ]
    return sorted(found, key=lambda item: item[0])


def read_bytes(client: Any, uri: str) -> bytes:
    from google.cloud import storage

    return bytes(storage.Blob.from_string(uri, client=client).download_as_bytes())


def download_tree(client: Any, uri: str, dest: Path) -> Path:
    """Every object under `uri` as files under `dest` (same relative names); FileNotFoundError if none."""
    files = list_files(client, uri)
    if not files:
        raise FileNotFoundError(f"{uri}: no objects under this prefix")
    for rel, blob in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
    return dest


@contextmanager
def local_folder(uri: str, client: Any = None) -> Iterator[Path]:
    """`uri` as a local folder: the folder itself, or a temporary download of a gs:// prefix (removed after)."""
    if not is_gcs(uri):
        yield Path(uri)
        return
    with tempfile.TemporaryDirectory(prefix="gcs-") as tmp:
        yield download_tree(client or storage_client(), uri, Path(tmp))


def copy_files(client: Any, files: list[tuple[str, Any]], dest_uri: str) -> int:
    """Copy the listed objects (`list_files`) to the same relative names under `dest_uri`, create-only; the
    number copied.

    Server-side (objects.rewrite, continued until done: any size, across buckets and locations), each pinned to
    the generation that was listed (and hashed), so the copy is exactly what the content address names. An
    object already there (a copy an earlier push made before it stopped) is kept when its crc32c is the
    source's; anything else there (other bytes, or a file the source does not have) is refused: a content
    address must hold exactly its content.
    """
    from google.api_core import exceptions

    if not files:
        raise RegistryError(f"{dest_uri}: no model files to copy")
    dest_bucket_name, dest_prefix = split(dest_uri)
    dest_bucket = client.bucket(dest_bucket_name)
    copied = 0
    for rel, source in files:
        dest = dest_bucket.blob(f"{dest_prefix}/{rel}")
        try:
            token = None
            while True:
                token, _, _ = dest.rewrite(
                    source, token=token, if_generation_match=0, if_source_generation_match=source.generation
                )
                if token is None:
                    break
            copied += 1
        except exceptions.PreconditionFailed:
            pass  # Already there: checked with the rest below.
    _check_copy(client, files, dest_uri)
    return copied


def _check_copy(client: Any, files: list[tuple[str, Any]], dest_uri: str) -> None:
    """The destination holds exactly the source's names, each with the source's crc32c."""
    expected = {rel: blob.crc32c for rel, blob in files}
    found = {rel: blob.crc32c for rel, blob in list_files(client, dest_uri)}
    wrong = sorted(rel for rel in expected if found.get(rel) != expected[rel])
    extra = sorted(set(found) - set(expected))
    if wrong or extra:
        parts = [f"differing or missing: {wrong}" if wrong else "", f"unexpected: {extra}" if extra else ""]
        detail = "; ".join(part for part in parts if part)
        raise RegistryError(f"{dest_uri}: the registry copy does not match the model ({detail}); nothing registered")
