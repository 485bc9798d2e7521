"""A version's SavedModel as a local folder: a local URI as it is, a gs:// prefix copied down first.

The copy goes through google-cloud-storage (on the Google API seam, contracts/google_apis.py), not
TensorFlow's GCS filesystem, which cannot be pointed at a stand-in and would bypass the seam.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.registry import RegistryError


@contextmanager
def local_copy(uri: str, *, project: str | None = None, storage_client: Any = None) -> Iterator[str]:
    """The folder to load `uri` from, for the duration of the block."""
    if not uri.startswith("gs://"):
        yield uri
        return
    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    client = storage_client or _client(project)
    prefix = prefix.rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix="model-") as folder:
        copied = 0
        for blob in client.bucket(bucket_name).list_blobs(prefix=prefix):
            relative = blob.name[len(prefix) :]
            if not relative or relative.endswith("/"):
                continue  # A folder placeholder object.
            target = Path(folder, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
            copied += 1
        if not copied:
            raise RegistryError(f"{uri}: no files there (the version's SavedModel is missing)")
        yield folder


def _client(project: str | None) -> Any:
    from google.cloud import storage

    from contracts.google_apis import storage_client_options

    return storage.Client(project=project, client_options=storage_client_options())
