"""A version in a bucket loads for prediction through google-cloud-storage on the Google API seam (what the
smoke test, the data check and the Vertex-mode server do with a gs:// SavedModel), not TensorFlow's own GCS
filesystem, which cannot be pointed at a stand-in."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from components.registry.predictor import Predictor
from release.model_tests.smoke import shipped_records
from tests.gcs_fake import FakeGcs, serving
from tests.tiny_model import save_tiny_model

pytestmark = pytest.mark.slow  # TensorFlow and a loopback server: seconds

FOLDER = "penguins-dev-penguins-model/" + "a" * 64 + "/Format-Serving"


@pytest.fixture
def bucket_with_model(tmp_path, monkeypatch):
    import google.auth

    model = save_tiny_model(tmp_path / "Format-Serving")
    fake = FakeGcs()
    for path in model.rglob("*"):
        if path.is_file():
            fake.put("penguins-dev-registry", f"{FOLDER}/{path.relative_to(model).as_posix()}", path.read_bytes())
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "my-dev-project"))
    with serving(fake) as base:
        monkeypatch.setenv("GOOGLE_APIS_BASE_URL", base)
        yield fake


def test_a_gs_version_is_downloaded_through_the_seam_and_predicts(bucket_with_model):
    predictor = Predictor(f"gs://penguins-dev-registry/{FOLDER}", "3")
    records, _ = shipped_records("penguins")
    predictions = predictor.predict(records)
    expected = ["Gentoo" if r["flipper_length_mm"] >= 206 else "Chinstrap" if r["bill_length_mm"] >= 44 else "Adelie"
                for r in records]  # fmt: skip
    assert [p["species"] for p in predictions] == expected
    media = [r for r in bucket_with_model.requests if r.query.get("alt") == "media"]
    assert media and all(r.path.startswith(f"/download/storage/v1/b/penguins-dev-registry/o/{FOLDER}/") for r in media)
    # The local copy lives as long as the predictor, and goes with it.
    copy = Path(predictor._copy.name)
    assert (copy / "saved_model.pb").is_file()
    del predictor
    gc.collect()
    assert not copy.exists()


def test_an_empty_prefix_is_named(bucket_with_model):
    with pytest.raises(FileNotFoundError, match="gs://penguins-dev-registry/nothing/here: no objects"):
        Predictor("gs://penguins-dev-registry/nothing/here")
