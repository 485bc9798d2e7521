"""The current-template pointer: written after a submitted run with a generation precondition (a concurrent
writer loses with 412 and retries), never moved back by an older run, and resolved by every submitter
(a pin wins). The GCS requests are checked on tests/gcs_fake.py, which applies ifGenerationMatch as GCS does."""

import json
import threading

import pytest

from contracts.config import load_environment
from contracts.current_template import current_key, read_current
from contracts.run_request import BackendUnavailableError
from release import publish
from release.publishing import current as pointer
from release.publishing.store import GcsStore, LocalStore, StaleWriteError
from release.publishing.templates import TemplateNotFoundError
from tests.gcs_emulator import client_for
from tests.gcs_fake import FakeGcs, serving

CURRENT_TEMPLATE = current_key("penguins")

BUCKET = "penguins-dev-artifacts"
DEV_PENGUINS = ["--env", "dev", "--pipeline", "penguins"]  # the commands need the pipeline: dev has two
SHA1, SHA2 = "1" * 64, "2" * 64


def submitted(sha=SHA1, job="penguins-dev-ci-1", at=1_800_000_000.0, **extra):
    """What release/submit.py writes to its result file after submitting a run of a published template."""
    return {
        "job_id": job,
        "backend": "vertex",
        "created": True,
        "submitted_at": at,
        "source": "ci",
        "trigger": f"build-{job}",
        "template": f"gs://{BUCKET}/templates/{sha}/pipeline.json",
        "template_sha256": sha,
        "template_source": "explicit",
        "commit": "c" * 40,
        "modules_sha256": "d" * 64,
        "image": "img@sha256:" + "0" * 64,
        "baseline": None,
        **extra,
    }


@pytest.fixture
def fake():
    gcs = FakeGcs()
    with serving(gcs) as endpoint:
        gcs.endpoint = endpoint
        yield gcs


def gcs(fake):
    return GcsStore(BUCKET, client=client_for(fake.endpoint))


def uploads(fake):
    return [r.query.get("ifGenerationMatch") for r in fake.calls("POST", "^/upload/") if r.name == CURRENT_TEMPLATE]


def test_the_first_write_creates_it_with_generation_zero_and_the_next_replaces_that_generation(fake):
    store = gcs(fake)
    first = pointer.set_current(store, pointer.record_for(submitted()), "penguins")
    assert first.written and first.reason == "set"
    generation = fake.objects[(BUCKET, CURRENT_TEMPLATE)][0]
    second = pointer.set_current(
        store, pointer.record_for(submitted(SHA2, "penguins-dev-ci-2", 1_800_000_100.0)), "penguins"
    )
    assert second.written and second.reason.startswith("moved from gs://")
    assert uploads(fake) == ["0", str(generation)]
    record = read_current(fake.objects[(BUCKET, CURRENT_TEMPLATE)][1], "pointer")
    assert (record.template_sha256, record.job_id, record.set_by) == (
        SHA2,
        "penguins-dev-ci-2",
        "ci:build-penguins-dev-ci-2",
    )


def test_a_concurrent_writer_makes_us_lose_with_412_and_retry_on_what_it_wrote(fake, monkeypatch):
    store = gcs(fake)
    pointer.set_current(store, pointer.record_for(submitted()), "penguins")
    original = GcsStore.replace
    raced = []

    def replace(self, path, data, *, version):
        if not raced:  # another build sets the pointer between our read and our write
            other = pointer.record_for(submitted(SHA2, "penguins-dev-ci-3", 1_800_000_050.0))
            fake.put(BUCKET, CURRENT_TEMPLATE, other.to_bytes())
            raced.append(version)
        return original(self, path, data, version=version)

    monkeypatch.setattr(GcsStore, "replace", replace)
    outcome = pointer.set_current(
        store, pointer.record_for(submitted(SHA2, "penguins-dev-ci-4", 1_800_000_200.0)), "penguins"
    )
    assert outcome.written and outcome.attempts == 2
    statuses = [r for r in fake.calls("POST", "^/upload/") if r.name == CURRENT_TEMPLATE]
    assert len(statuses) == 3  # the first set, our write refused (412), our retry on the racer's generation
    assert uploads(fake)[1] == str(raced[0]) and uploads(fake)[2] != str(raced[0])
    assert read_current(fake.objects[(BUCKET, CURRENT_TEMPLATE)][1], "p").job_id == "penguins-dev-ci-4"


def test_an_older_run_never_moves_it_back_and_setting_it_twice_writes_once(fake):
    store = gcs(fake)
    newer = pointer.record_for(submitted(SHA2, "penguins-dev-ci-9", 1_800_000_900.0))
    pointer.set_current(store, newer, "penguins")
    older = pointer.set_current(
        store, pointer.record_for(submitted(SHA1, "penguins-dev-ci-8", 1_800_000_800.0)), "penguins"
    )
    assert not older.written and "submitted after penguins-dev-ci-8" in older.reason
    again = pointer.set_current(store, newer, "penguins")
    assert not again.written and again.reason == "already set after run penguins-dev-ci-9"
    assert uploads(fake) == ["0"]


def test_writers_that_keep_winning_make_it_give_up_saying_so(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)

    def always_stale(self, path, data, *, version):
        raise StaleWriteError("changed")

    monkeypatch.setattr(LocalStore, "replace", always_stale)
    with pytest.raises(BackendUnavailableError, match="changed 5 times"):
        pointer.set_current(store, pointer.record_for(submitted()), "penguins")


def test_local_writers_take_turns_and_none_is_lost(tmp_path):
    """Ten threads set it at once in a local folder: each write is a compare-and-set under the lock."""
    store = LocalStore(tmp_path)
    records = [
        pointer.record_for(submitted(f"{i:064x}", f"penguins-local-{i}", 1_800_000_000.0 + i)) for i in range(10)
    ]
    outcomes = []
    threads = [
        threading.Thread(target=lambda r=r: outcomes.append(pointer.set_current(store, r, "penguins"))) for r in records
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final, _ = pointer.read_pointer(store, "penguins")
    assert final.job_id == "penguins-local-9"  # the newest submission, whatever the order of the writes
    assert len(outcomes) == 10 and not list(tmp_path.glob("templates/.publish-tmp-*"))


def test_a_stale_local_write_is_refused(tmp_path):
    store = LocalStore(tmp_path)
    data, version = store.read_versioned(CURRENT_TEMPLATE)
    assert (data, version) == (None, "")
    store.replace(CURRENT_TEMPLATE, b"one", version="")
    with pytest.raises(StaleWriteError):
        store.replace(CURRENT_TEMPLATE, b"two", version="")
    assert store.read(CURRENT_TEMPLATE) == b"one"


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (submitted(status="failed"), "ended failed: the pointer stays"),
        (submitted(template="/tmp/build/vertex/dev/pipeline.json"), "not a published template"),
        (submitted(template_sha256=SHA2), "not a published template"),
        ({**submitted(), "job_id": ""}, "`job_id` must be a non-empty string"),
        ({**submitted(), "submitted_at": None}, "`submitted_at` must be a number"),
    ],
)
def test_set_current_refuses_what_is_not_a_submitted_run_of_a_published_template(tmp_path, capsys, result, message):
    path = tmp_path / "submit.json"
    path.write_text(json.dumps(result))
    argv = [*DEV_PENGUINS, "--set-current", "--from", str(path), "--to", str(tmp_path / "store")]
    assert publish.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_set_current_needs_the_submit_result(tmp_path, capsys):
    argv = [*DEV_PENGUINS, "--set-current", "--from", str(tmp_path / "none.json"), "--to", str(tmp_path)]
    assert publish.main(argv) == 2
    assert "no submit result" in capsys.readouterr().err


def test_prods_pointer_is_in_prods_bucket_and_names_devs_template(tmp_path, capsys, monkeypatch):
    stores = {}

    def store_for(uri, client=None):
        return stores.setdefault(uri, LocalStore(tmp_path / uri.removeprefix("gs://")))

    monkeypatch.setattr("release.publish.store_for", store_for)
    path = tmp_path / "submit.json"
    path.write_text(json.dumps(submitted(job="penguins-prod-adopt-1")))
    assert (
        publish.main(
            ["--env", "prod", "--pipeline", "penguins", "--set-current", "--from", str(path), "--set-by", "adopt:b-7"]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["pointer"] == str(tmp_path / "penguins-prod-artifacts" / CURRENT_TEMPLATE)
    record = read_current((tmp_path / "penguins-prod-artifacts" / CURRENT_TEMPLATE).read_bytes(), "p")
    assert record.template.startswith(f"gs://{BUCKET}/templates/") and record.set_by == "adopt:b-7"


def test_prod_publishes_nothing_of_its_own(tmp_path, capsys):
    argv = [
        "--env",
        "prod",
        "--pipeline",
        "penguins",
        "--branch",
        "main",
        "--compiled",
        str(tmp_path),
        "--to",
        str(tmp_path / "o"),
    ]
    assert publish.main(argv) == 2
    assert "publish with --env dev" in capsys.readouterr().err


def test_the_pin_wins_over_the_pointer_and_without_either_there_is_no_template(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "dev")
    monkeypatch.setattr(pointer, "store_for", lambda uri, client=None: store)
    dev = load_environment("dev", "penguins")
    with pytest.raises(TemplateNotFoundError, match="no current template of penguins yet"):
        pointer.current_template(dev)
    pointer.set_current(store, pointer.record_for(submitted()), "penguins")
    resolved = pointer.current_template(dev)
    assert (resolved.source, resolved.sha256, resolved.lineage.commit) == ("pointer", SHA1, "c" * 40)
    pinned = dev.with_settings(template_sha256=SHA2)
    monkeypatch.setattr(
        "release.publishing.templates.store_for", lambda uri, client=None: LocalStore(tmp_path / "none")
    )
    resolved = pointer.current_template(pinned)
    assert (resolved.source, resolved.uri) == ("pin", f"gs://{BUCKET}/templates/{SHA2}/pipeline.json")
    assert resolved.lineage.commit is None  # no lineage record beside it: only its sha256 is known


def test_a_broken_pointer_is_named_when_a_submitter_reads_it(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    store.replace(CURRENT_TEMPLATE, b'{"template": 1}', version="")
    monkeypatch.setattr(pointer, "store_for", lambda uri, client=None: store)
    with pytest.raises(TemplateNotFoundError, match=r"current/penguins\.json: missing"):
        pointer.current_template(load_environment("dev", "penguins"))
    # The writer replaces it: a broken record cannot block CI.
    assert pointer.set_current(store, pointer.record_for(submitted()), "penguins").written


def test_the_pointer_keeps_whether_the_template_was_dirty_and_reads_older_pointers_as_unknown():
    record = pointer.record_for(submitted(dirty=False))
    assert record.lineage().dirty is False
    read = read_current(record.to_bytes(), "current.json")
    assert read == record and read.lineage().dirty is False
    older = json.loads(record.to_bytes())
    del older["dirty"]  # a pointer set before the flag was kept
    assert read_current(json.dumps(older).encode(), "current.json").lineage().dirty is None
    assert pointer.record_for(submitted()).dirty is None  # a submit result that does not know
    with pytest.raises(ValueError, match=r"current\.json: dirty must be true, false or null, got 'yes'"):
        read_current(json.dumps({**older, "dirty": "yes"}).encode(), "current.json")
