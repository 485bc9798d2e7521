"""Publishing: content-addressed, create-only, resolvable only when complete; on a local folder and on GCS.

GCS is gcp-storage-emulator (a real HTTP server for the JSON API) started once for this module.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import uuid
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from contracts.run_request import BackendUnavailableError, Lineage, lineage_location, read_lineage_record
from pipelines.staging import content_hash
from release.publishing.modules import ModulesNotFoundError, publish_modules, resolve_modules
from release.publishing.store import GcsStore, LocalStore, PublishConflictError, store_for
from release.publishing.templates import (
    TemplateNotFoundError,
    lineage_record_path,
    publish_template,
    resolve_template,
    template_image,
)
from tests.gcs_emulator import client_for, free_port, running_emulator

COMMIT = "1" * 40
OTHER_COMMIT = "2" * 40


@pytest.fixture(scope="module")
def gcs_client():
    with running_emulator() as endpoint:
        yield client_for(endpoint)


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "published")
    client = request.getfixturevalue("gcs_client")
    # A bucket per test keeps tests independent; the prefix checks that paths are relative to it.
    bucket = client.create_bucket(f"test-{uuid.uuid4().hex[:12]}")
    return GcsStore(bucket.name, prefix="artifacts/penguins", client=client)


@pytest.fixture
def modules(tmp_path):
    folder = tmp_path / "modules"
    (folder / "sub").mkdir(parents=True)
    (folder / "trainer.py").write_text("EPOCHS = 1\n")
    (folder / "sub" / "features.py").write_text("KEYS = ['a']\n")
    (folder / "notes.txt").write_text("not published")
    return folder


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps({"pipelineInfo": {"name": "penguins"}}))
    return path


# Stores


def test_write_new_creates_once_and_never_overwrites(store):
    assert store.write_new("a/b.txt", b"one") is True
    assert store.write_new("a/b.txt", b"one") is False
    with pytest.raises(PublishConflictError, match=r"a/b\.txt already exists with different content"):
        store.write_new("a/b.txt", b"two")
    assert store.read("a/b.txt") == b"one"
    assert store.exists("a/b.txt")
    assert store.list("a/") == ["a/b.txt"]


def test_missing_objects_and_bad_paths(store):
    assert not store.exists("nope.txt")
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: no such object"):
        store.read("nope.txt")
    assert store.list("nothing/") == []
    for bad in ("../escape", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(ValueError, match="relative"):
            store.write_new(bad, b"x")


def test_list_is_a_string_prefix(store):
    for path in ("m/abc/x.py", "m/abd/y.py", "m/abc/sub/z.py", "other.txt"):
        store.write_new(path, b"x")
    assert store.list("m/abc/") == ["m/abc/sub/z.py", "m/abc/x.py"]
    assert store.list("m/ab") == ["m/abc/sub/z.py", "m/abc/x.py", "m/abd/y.py"]
    assert store.list("") == ["m/abc/sub/z.py", "m/abc/x.py", "m/abd/y.py", "other.txt"]


def test_local_concurrent_writers_one_wins_and_no_temp_files_remain(tmp_path):
    store = LocalStore(tmp_path)
    barrier = threading.Barrier(8)
    results: dict[int, object] = {}

    def write(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.write_new("x/race.bin", bytes([i]) * 100_000)
        except PublishConflictError as err:
            results[i] = err

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, result in results.items() if result is True]
    assert len(winners) == 1
    assert all(isinstance(results[i], PublishConflictError) for i in results if i not in winners)
    assert (tmp_path / "x" / "race.bin").read_bytes() == bytes(winners) * 100_000
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["race.bin"]


@pytest.mark.parametrize(("theirs", "expected"), [(b"mine", False), (b"theirs", PublishConflictError)])
def test_gcs_precondition_failure_compares_bytes(gcs_client, monkeypatch, theirs, expected):
    """The race GCS settles with a 412: another writer creates the object between our look and our upload.

    The emulator ignores preconditions, so the other writer's upload and the 412 are played by a stand-in.
    """
    bucket = gcs_client.create_bucket(f"test-{uuid.uuid4().hex[:12]}")
    store = GcsStore(bucket.name, client=gcs_client)
    real_upload = storage.Blob.upload_from_string

    def concurrent_writer_wins(blob, data, **kwargs):
        assert kwargs["if_generation_match"] == 0
        real_upload(blob, theirs)
        raise gexc.PreconditionFailed("conditionNotMet")

    monkeypatch.setattr(storage.Blob, "upload_from_string", concurrent_writer_wins)
    if expected is False:
        assert store.write_new("obj", b"mine") is False
    else:
        with pytest.raises(PublishConflictError, match=r"gs://\S+/obj already exists"):
            store.write_new("obj", b"mine")
    assert store.read("obj") == theirs


@pytest.mark.parametrize("action", ["exists", "read", "write_new", "list"])
def test_gcs_connection_failure_is_backend_unavailable(action):
    closed = client_for(f"http://127.0.0.1:{free_port()}")
    store = GcsStore("bucket", client=closed, retry=None)
    call = {
        "exists": lambda: store.exists("a"),
        "read": lambda: store.read("a"),
        "write_new": lambda: store.write_new("a", b"x"),
        "list": lambda: store.list("a"),
    }[action]
    with pytest.raises(BackendUnavailableError, match=r"gs://bucket/a failed, try again: ConnectionError"):
        call()


def test_gcs_retries_exhausted_is_backend_unavailable():
    closed = client_for(f"http://127.0.0.1:{free_port()}")
    store = GcsStore("bucket", client=closed, retry=DEFAULT_RETRY.with_timeout(0.3))
    with pytest.raises(BackendUnavailableError, match="RetryError"):
        store.exists("a")


def test_gcs_server_error_is_backend_unavailable():
    class Unavailable(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = GcsStore("bucket", client=client_for(f"http://127.0.0.1:{server.server_port}"), retry=None)
        with pytest.raises(BackendUnavailableError, match="ServiceUnavailable"):
            store.read("a")
    finally:
        server.shutdown()
        server.server_close()


def test_store_for(tmp_path, monkeypatch):
    gcs = store_for("gs://my-bucket/some/prefix/")
    assert isinstance(gcs, GcsStore)
    assert (gcs.bucket_name, gcs.prefix) == ("my-bucket", "some/prefix")
    assert gcs.uri("modules/x") == "gs://my-bucket/some/prefix/modules/x"
    assert store_for("gs://my-bucket").uri("a") == "gs://my-bucket/a"
    assert store_for("gs://my-bucket/").uri("a") == "gs://my-bucket/a"
    local = store_for(str(tmp_path / "pub"))
    assert isinstance(local, LocalStore)
    assert local.uri("a/b") == str(tmp_path / "pub" / "a" / "b")
    assert store_for(f"file://{tmp_path}").uri("a") == str(tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    assert store_for("relative").uri("a") == str(tmp_path / "relative" / "a")
    for bad in ("gs://", "gs:///prefix", "s3://bucket/x", "", "gs://b/a//c"):
        with pytest.raises(ValueError):
            store_for(bad)


# Modules


def test_publish_modules_twice_is_a_noop(store, modules):
    first = publish_modules(store, modules)
    assert first.sha256 == content_hash(modules)
    assert first.created
    assert first.files == ("sub/features.py", "trainer.py")
    assert first.uri == store.uri(f"modules/{first.sha256}")
    assert store.list(f"modules/{first.sha256}/") == [
        f"modules/{first.sha256}/{name}" for name in ("MANIFEST.json", "sub/features.py", "trainer.py")
    ]
    assert store.read(f"modules/{first.sha256}/sub/features.py") == b"KEYS = ['a']\n"
    manifest = json.loads(store.read(f"modules/{first.sha256}/MANIFEST.json"))
    assert manifest["files"][1] == {
        "path": "trainer.py",
        "sha256": hashlib.sha256(b"EPOCHS = 1\n").hexdigest(),
        "size": 11,
    }

    again = publish_modules(store, modules)
    assert (again.sha256, again.uri, again.files, again.created) == (first.sha256, first.uri, first.files, False)
    assert resolve_modules(store, first.sha256) == first.uri


def test_edited_module_is_a_new_version_and_the_old_is_unchanged(store, modules):
    old = publish_modules(store, modules)
    (modules / "trainer.py").write_text("EPOCHS = 2\n")
    new = publish_modules(store, modules)
    assert new.sha256 != old.sha256
    assert new.created
    assert store.read(f"modules/{old.sha256}/trainer.py") == b"EPOCHS = 1\n"
    assert store.read(f"modules/{new.sha256}/trainer.py") == b"EPOCHS = 2\n"
    assert resolve_modules(store, old.sha256) == old.uri
    assert resolve_modules(store, new.sha256) == new.uri


def test_partial_upload_is_not_resolvable_and_republish_completes_it(store, modules):
    sha = content_hash(modules)
    # An upload that stopped after one file, before the manifest.
    store.write_new(f"modules/{sha}/trainer.py", b"EPOCHS = 1\n")
    with pytest.raises(ModulesNotFoundError, match=rf"{sha} is not published: .*interrupted upload"):
        resolve_modules(store, sha)
    published = publish_modules(store, modules)
    assert published.created
    assert resolve_modules(store, sha) == published.uri


def test_unknown_modules_version(store):
    unknown = "0" * 64
    with pytest.raises(ModulesNotFoundError) as err:
        resolve_modules(store, unknown)
    assert str(err.value) == (
        f"modules version {unknown} is not published: {store.uri(f'modules/{unknown}/MANIFEST.json')} does not exist"
    )
    with pytest.raises(ModulesNotFoundError, match="'latest' is not a sha256"):
        resolve_modules(store, "latest")


def test_manifest_listing_a_missing_file_is_not_resolvable(store):
    sha = "a" * 64
    manifest = {"sha256": sha, "files": [{"path": "gone.py", "sha256": "b" * 64, "size": 1}]}
    store.write_new(f"modules/{sha}/MANIFEST.json", json.dumps(manifest).encode())
    with pytest.raises(ModulesNotFoundError, match=rf"{sha} at .* is incomplete: .*gone\.py"):
        resolve_modules(store, sha)


def test_publish_modules_needs_a_folder_with_modules(store, tmp_path):
    with pytest.raises(NotADirectoryError):
        publish_modules(store, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.py files"):
        publish_modules(store, tmp_path / "empty")


# Templates


def test_publish_and_resolve_template_by_sha_and_by_commit(store, template):
    published = publish_template(store, template, pipeline="penguins", commit_sha=COMMIT, branch="main")
    sha = hashlib.sha256(template.read_bytes()).hexdigest()
    assert (published.sha256, published.branch, published.created) == (sha, "main", True)
    assert published.uri == store.uri(f"templates/{sha}/pipeline.json")
    assert store.read(f"templates/{sha}/pipeline.json") == template.read_bytes()
    record = json.loads(store.read(f"templates/commits/penguins/{COMMIT}.json"))
    assert record == {"template_sha256": sha, "branch": "main", "published_at": published.published_at}
    assert resolve_template(store, sha, "penguins") == published.uri
    assert resolve_template(store, f"commit:{COMMIT}", "penguins") == published.uri


def test_republishing_a_commit(store, template):
    first = publish_template(store, template, pipeline="penguins", commit_sha=COMMIT, branch="main")
    again = publish_template(store, template, pipeline="penguins", commit_sha=COMMIT, branch="main")
    assert (again.sha256, again.published_at, again.created) == (first.sha256, first.published_at, False)

    template.write_text(json.dumps({"pipelineInfo": {"name": "edited"}}))
    with pytest.raises(
        PublishConflictError, match=rf"commit {COMMIT} already published template {first.sha256} for penguins"
    ):
        publish_template(store, template, pipeline="penguins", commit_sha=COMMIT, branch="main")
    assert resolve_template(store, f"commit:{COMMIT}", "penguins") == first.uri

    other = publish_template(store, template, pipeline="penguins", commit_sha=OTHER_COMMIT, branch="feature")
    assert other.created
    assert other.sha256 != first.sha256
    assert resolve_template(store, f"commit:{OTHER_COMMIT}", "penguins") == other.uri


def test_one_commit_publishes_a_template_for_each_pipeline(store, tmp_path):
    """A commit that fires two pipelines publishes two templates: each pipeline has its own commit record, and
    `commit:<sha>` resolves to the pipeline's own."""
    penguins, diabetes = compiled_template(tmp_path, "penguins"), compiled_template(tmp_path, "diabetes")
    first = publish_template(store, penguins, pipeline="penguins", commit_sha=COMMIT, branch="main")
    second = publish_template(store, diabetes, pipeline="diabetes", commit_sha=COMMIT, branch="main")
    assert first.sha256 != second.sha256 and first.created and second.created
    assert resolve_template(store, f"commit:{COMMIT}", "penguins") == first.uri
    assert resolve_template(store, f"commit:{COMMIT}", "diabetes") == second.uri
    assert sorted(store.list("templates/commits/")) == [
        f"templates/commits/diabetes/{COMMIT}.json",
        f"templates/commits/penguins/{COMMIT}.json",
    ]


def test_unknown_templates(store):
    unknown = "f" * 64
    with pytest.raises(TemplateNotFoundError, match=rf"template {unknown} is not published: .* does not exist"):
        resolve_template(store, unknown, "penguins")
    with pytest.raises(
        TemplateNotFoundError,
        match=rf"no template published for commit {COMMIT} and pipeline penguins: "
        rf"\S+/templates/commits/penguins/{COMMIT}\.json does not exist",
    ):
        resolve_template(store, f"commit:{COMMIT}", "penguins")
    with pytest.raises(TemplateNotFoundError, match="expected a template sha256"):
        resolve_template(store, "latest", "penguins")
    with pytest.raises(TemplateNotFoundError, match="full lowercase hex git commit id"):
        resolve_template(store, "commit:abc123", "penguins")


def test_publish_template_rejects_bad_input(store, tmp_path, template):
    with pytest.raises(ValueError, match="commit_sha"):
        publish_template(store, template, pipeline="penguins", commit_sha="abc123", branch="main")
    with pytest.raises(ValueError, match="branch"):
        publish_template(store, template, pipeline="penguins", commit_sha=COMMIT, branch="")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not a compiled pipeline template"):
        publish_template(store, broken, pipeline="penguins", commit_sha=COMMIT, branch="main")
    assert store.list("templates/") == []


def test_a_local_store_is_usable_as_a_folder(tmp_path, modules):
    """Local runs reference the published folder directly: the uri is an absolute path with the files in it."""
    published = publish_modules(LocalStore(tmp_path / "pub"), modules)
    folder = Path(published.uri)
    assert folder.is_absolute()
    assert (folder / "sub" / "features.py").read_text() == "KEYS = ['a']\n"


def test_uncommitted_code_publishes_the_template_without_a_commit_record(tmp_path):
    store = LocalStore(tmp_path / "store")
    template = tmp_path / "pipeline.json"
    template.write_text('{"pipelineSpec": {}}')
    published = publish_template(store, template, pipeline="penguins", commit_sha=None, branch="main")
    assert published.commit_sha is None and published.created
    assert store.list("templates/commits/") == []
    assert store.exists(f"templates/{published.sha256}/pipeline.json")


# Lineage records


IMAGE = "europe-west4-docker.pkg.dev/p/r/pipeline@sha256:" + "3" * 64
MODULES = "4" * 64


def compiled_template(tmp_path, name="penguins"):
    """A template whose containers all run one image, as the compile writes it."""
    executors = {f"{c}_executor": {"container": {"image": IMAGE}} for c in ("Trainer", "Pusher")}
    executors["resolver_executor"] = {"resolver": {}}
    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps({"pipelineSpec": {"pipelineInfo": {"name": name}, "deploymentSpec": {"executors": executors}}})
    )
    return path


def test_a_committed_template_gets_its_lineage_beside_it(store, tmp_path):
    published = publish_template(
        store,
        compiled_template(tmp_path),
        pipeline="penguins",
        commit_sha=COMMIT,
        branch="main",
        modules_sha256=MODULES,
    )
    path = lineage_record_path(published.sha256)
    assert path == f"templates/{published.sha256}/lineage.json"
    lineage = read_lineage_record(store.read(path), store.uri(path), published.uri)
    assert lineage == Lineage(
        commit=COMMIT, modules_sha256=MODULES, template_sha256=published.sha256, image=IMAGE, dirty=False
    )
    # Where the function looks for it: beside the template it was given.
    assert lineage_location(published.uri) == store.uri(path)


def test_the_first_commit_to_publish_a_template_keeps_its_lineage(store, tmp_path):
    template = compiled_template(tmp_path)
    first = publish_template(
        store, template, pipeline="penguins", commit_sha=COMMIT, branch="main", modules_sha256=MODULES
    )
    record = store.read(lineage_record_path(first.sha256))
    # Another commit compiling to the same bytes (e.g. a change outside the pipeline): its own commit record,
    # the first lineage.
    again = publish_template(
        store, template, pipeline="penguins", commit_sha=OTHER_COMMIT, branch="main", modules_sha256=MODULES
    )
    assert again.sha256 == first.sha256 and again.created
    assert store.read(lineage_record_path(first.sha256)) == record
    assert resolve_template(store, f"commit:{OTHER_COMMIT}", "penguins") == first.uri


def test_uncommitted_code_gets_no_lineage_record(store, tmp_path):
    published = publish_template(
        store, compiled_template(tmp_path), pipeline="penguins", commit_sha=None, branch="main", modules_sha256=MODULES
    )
    assert not store.exists(lineage_record_path(published.sha256))


def test_the_image_is_read_from_the_template():
    assert template_image(json.loads(compiled_template_text())) == IMAGE
    assert template_image({"pipelineSpec": {"deploymentSpec": {"executors": {}}}}) is None
    two = {"deploymentSpec": {"executors": {"a": {"container": {"image": "x"}}, "b": {"container": {"image": "y"}}}}}
    assert template_image(two) is None and template_image([]) is None


def compiled_template_text():
    executors = {"Trainer_executor": {"container": {"image": IMAGE}}}
    return json.dumps({"pipelineSpec": {"deploymentSpec": {"executors": executors}}})


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (b"{not json", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (json.dumps({"commit": 12}).encode(), "commit must be a non-empty string"),
        (json.dumps({"modules_sha256": "abc"}).encode(), "modules_sha256 'abc' is not a sha256"),
        (json.dumps({"dirty": "no"}).encode(), "dirty must be true, false or null, got 'no'"),
    ],
)
def test_a_broken_lineage_record_is_named(record, problem):
    with pytest.raises(ValueError, match=rf"^gs://b/templates/x/lineage\.json: .*{problem}"):
        read_lineage_record(record, "gs://b/templates/x/lineage.json")


def test_a_record_written_before_dirty_was_kept_reads_as_unknown():
    record = {"commit": COMMIT, "modules_sha256": MODULES, "image": IMAGE, "published_at": "2026-11-01T00:00:00+00:00"}
    lineage = read_lineage_record(json.dumps(record).encode(), "gs://b/templates/x/lineage.json")
    assert (lineage.commit, lineage.dirty) == (COMMIT, None)
