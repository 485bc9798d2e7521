"""The GCS data store's preconditions against real Cloud Storage (skipped without credentials).

The emulator ignores preconditions; here GCS itself must answer 412: a second create-only write, a delete with
a stale generation, a second lease. Everything lives under a throw-away prefix of the dev data bucket.
"""

import uuid

import pytest

from contracts.config import load_environment
from release.datacheck.gcs_store import GcsStore
from release.datacheck.lease import LeaseHeldError
from release.datacheck.store import Entry

pytestmark = pytest.mark.live


def test_create_only_writes_generation_deletes_and_the_lease_on_real_gcs():
    from google.cloud import storage

    config = load_environment("dev")
    client = storage.Client(project=config.gcp.project)
    prefix = f"live-tests/datacheck-{uuid.uuid4().hex[:8]}"
    store = GcsStore.of(client, f"{config.gcp.bucket_uri('data')}/{prefix}", wait_seconds=0)
    bucket = store.bucket
    try:
        assert store.write_new("batches/b-1/manifest.json", b"{}") is True
        assert store.write_new("batches/b-1/manifest.json", b"other") is False  # GCS answered 412
        assert store.read("batches/b-1/manifest.json") == b"{}"
        blob = bucket.blob(f"{prefix}/incoming/a.csv")
        blob.upload_from_string(b"frozen\n")
        frozen = blob.generation
        bucket.blob(blob.name).upload_from_string(b"rewritten\n")  # a producer rewrites it
        assert store.move("a.csv", "processed/b-1/a.csv", "sha", frozen) is False
        assert store.read_entry(Entry("a.csv", 7, frozen)) is None
        assert store.read("incoming/a.csv") == b"rewritten\n"
        with store.locked():
            other = GcsStore.of(client, f"{config.gcp.bucket_uri('data')}/{prefix}", wait_seconds=0)
            with pytest.raises(LeaseHeldError), other.locked():
                pass
        assert store.read(".datacheck-lease.json") is None  # released with its generation
    finally:
        for leftover in client.list_blobs(bucket, prefix=f"{prefix}/"):
            leftover.delete()
