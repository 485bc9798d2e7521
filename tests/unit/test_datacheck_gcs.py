"""The data check on Cloud Storage at the request level: the fake GCS of tests/gcs_fake.py honours generation
preconditions as GCS does and records each request, so these tests see the exact requests (create-only
writes, moves whose delete carries the frozen generation, the lease) and the races they settle."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from contracts.config import REPO_ROOT
from release.datacheck.check import STEPS
from release.datacheck.lease import Lease, LeaseHeldError, LeaseLostError
from tests.datacheck_helpers import gcs_store, make_check
from tests.gcs_emulator import client_for
from tests.gcs_fake import FakeGcs, serving

pytestmark = pytest.mark.slow  # seconds: `nox -s tests` runs it, the push workflows' unit step does not

BUCKET = "penguins-test-data"
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"
BOUNDARIES = ("validated", "moving", *STEPS)


class CrashError(Exception):
    pass


@pytest.fixture
def fake():
    gcs = FakeGcs()
    with serving(gcs) as endpoint:
        gcs.endpoint = endpoint
        yield gcs


def land(fake, files=3, valid=30, bad=2, start=2000):
    serial = iter(range(start, start + 5000))
    good, wrong = [], []
    for index in range(files):
        rows = [f"Adelie,Dream,39.0,18.0,190,{next(serial)},male" for _ in range(valid)]
        rows_bad = [f"Adelie,Dream,39.0,18.0,190,{next(serial)}" for _ in range(bad)]
        fake.put(BUCKET, f"penguins/incoming/f{index}.csv", ("\n".join([HEADER, *rows, *rows_bad]) + "\n").encode())
        good += rows
        wrong += rows_bad
    return good, wrong


def assert_lossless(fake, root, good, bad, runs=1):
    store = gcs_store(fake.endpoint)
    in_spans = [r for n in store.span_numbers() for r in store.span_rows(n).decode().splitlines()[1:]]
    assert sorted(in_spans) == sorted(good), "every valid record in exactly one span"
    lines = [json.loads(x)["text"] for key in store.keys("quarantine/") for x in store.read(key).decode().splitlines()]
    assert sorted(lines) == sorted(bad), "every bad record in quarantine, once"
    assert fake.names(BUCKET, "penguins/incoming/") == [], "nothing left in incoming"
    assert fake.names(BUCKET, "penguins/.datacheck-lease") == [], "the lease released"
    assert len(make_check(root).submitter.runs()) == runs, "one run per batch"


def test_every_write_is_create_only_and_every_delete_carries_the_frozen_generation(fake, tmp_path):
    good, bad = land(fake, files=2)
    generations = {n: fake.objects[(BUCKET, n)][0] for n in fake.names(BUCKET, "penguins/incoming/")}
    [outcome] = make_check(tmp_path, store=gcs_store(fake.endpoint)).run().batches
    uploads = [r for r in fake.calls("POST", "^/upload/") if not r.name.endswith("lease.json")]
    assert uploads and all(r.query.get("ifGenerationMatch") == "0" for r in uploads)
    lease = [r.query["ifGenerationMatch"] for r in fake.calls("POST", "^/upload/") if r.name.endswith("lease.json")]
    assert lease[0] == "0" and all(g != "0" for g in lease[1:]), "created once, then renewed with its generation"
    copies = fake.calls("POST", "/copyTo/")
    deletes = {r.path.rsplit("/o/", 1)[1]: r.query for r in fake.calls("DELETE", "/incoming/")}
    assert {r.query["sourceGeneration"] for r in copies} == {str(g) for g in generations.values()}
    assert all(r.query["ifGenerationMatch"] == "0" for r in copies)
    assert {n: q["ifGenerationMatch"] for n, q in deletes.items()} == {n: str(g) for n, g in generations.items()}
    manifest = json.loads(fake.objects[(BUCKET, f"penguins/batches/{outcome['batch']}/manifest.json")][1])
    assert {f"penguins/incoming/{f['name']}": f["generation"] for f in manifest["files"]} == generations
    assert fake.names(BUCKET, f"penguins/span-{outcome['span']}/") == [
        f"penguins/span-{outcome['span']}/batch.json",
        f"penguins/span-{outcome['span']}/penguins.csv",
    ]
    assert_lossless(fake, tmp_path, good, bad)


def test_a_file_rewritten_after_the_freeze_stays_in_incoming_for_the_next_batch(fake, tmp_path):
    good, _bad = land(fake, files=2)
    late = "Gentoo,Biscoe,47.5,15.0,217,6999,female"

    def rewrite(step):
        if step == "span":  # frozen and spanned; the producer now rewrites f0.csv
            fake.put(BUCKET, "penguins/incoming/f0.csv", f"{HEADER}\n{late}\n".encode())

    [outcome] = make_check(tmp_path, store=gcs_store(fake.endpoint), hook=rewrite).run().batches
    # The copy asked for the frozen generation, which is gone (404): f0.csv is not moved, nor deleted.
    assert fake.calls("DELETE", "incoming/f0.csv") == []
    assert fake.objects[(BUCKET, "penguins/incoming/f0.csv")][1].decode().endswith(f"{late}\n")
    assert fake.names(BUCKET, "penguins/processed/") == [f"penguins/processed/{outcome['batch']}/f1.csv"]
    spanned = gcs_store(fake.endpoint).span_rows(outcome["span"]).decode().splitlines()[1:]
    assert sorted(spanned) == sorted(good)  # the frozen version's records are in the span all the same
    [second] = make_check(tmp_path, store=gcs_store(fake.endpoint), min_new_records=1).run().batches
    assert second["records"] == 1 and fake.names(BUCKET, "penguins/incoming/") == []


def test_a_file_rewritten_between_the_copy_and_the_delete_stays(fake):
    generation = fake.put(BUCKET, "penguins/incoming/a.csv", b"frozen\n")
    store = gcs_store(fake.endpoint)
    store.bucket.copy_blob(store._blob("incoming/a.csv"), store.bucket, "penguins/processed/b-1/a.csv")
    fake.put(BUCKET, "penguins/incoming/a.csv", b"rewritten\n")  # after the (crashed) move's copy
    assert store.move("a.csv", "processed/b-1/a.csv", "sha", generation) is True
    [delete] = fake.calls("DELETE", "incoming/a.csv")
    assert delete.query["ifGenerationMatch"] == str(generation)  # GCS answered 412
    assert fake.objects[(BUCKET, "penguins/incoming/a.csv")][1] == b"rewritten\n"
    assert fake.objects[(BUCKET, "penguins/processed/b-1/a.csv")][1] == b"frozen\n"


def test_the_lease_is_created_only_if_absent_and_deleted_with_its_generation(fake):
    blob = client_for(fake.endpoint).bucket(BUCKET).blob("penguins/.datacheck-lease.json")
    first = Lease(blob, 60, holder="first")
    first.acquire(0)
    [create] = fake.calls("POST", "^/upload/")
    assert create.query["ifGenerationMatch"] == "0"
    second = Lease(client_for(fake.endpoint).bucket(BUCKET).blob(blob.name), 60, holder="second")
    with pytest.raises(LeaseHeldError, match=r"another data check \(first\) holds the lease until"):
        second.acquire(0)
    held = first.generation
    first.release()
    [delete] = fake.calls("DELETE", "lease")
    assert delete.query["ifGenerationMatch"] == str(held)
    assert fake.names(BUCKET, "penguins/.datacheck") == []


def test_a_stale_lease_is_taken_over_with_its_generation_and_its_old_holder_stops(fake):
    bucket = client_for(fake.endpoint).bucket(BUCKET)
    now = [1_000_000.0]
    dead = Lease(bucket.blob("penguins/.datacheck-lease.json"), 60, holder="dead", clock=lambda: now[0])
    dead.acquire(0)
    stale_generation = dead.generation
    now[0] += 61  # the holder died; its lease expired
    taker = Lease(bucket.blob("penguins/.datacheck-lease.json"), 60, holder="taker", clock=lambda: now[0])
    taker.acquire(0)
    takeover = fake.calls("POST", "^/upload/")[-1]
    assert takeover.query["ifGenerationMatch"] == str(stale_generation)
    with pytest.raises(LeaseLostError, match="took the lease over"):
        dead.renew()  # the old holder wakes up: its renewal's precondition fails, it stops
    dead.release()  # and never deletes the taker's lease
    assert fake.names(BUCKET, "penguins/.datacheck-lease.json")
    taker.release()


def test_two_checks_started_together_make_one_span_per_batch(fake, tmp_path):
    good, bad = land(fake, files=4)
    errors = []

    def one():
        try:
            make_check(tmp_path, store=gcs_store(fake.endpoint)).run()
        except Exception as err:  # reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert gcs_store(fake.endpoint).span_numbers() == [1]
    assert_lossless(fake, tmp_path, good, bad)


@pytest.mark.parametrize("step", BOUNDARIES)
def test_an_exception_at_each_step_then_a_rerun(fake, tmp_path, step):
    good, bad = land(fake)

    def crash(reached):
        if reached == step:
            raise CrashError(step)

    with pytest.raises(CrashError):
        make_check(tmp_path, store=gcs_store(fake.endpoint), hook=crash).run()
    make_check(tmp_path, store=gcs_store(fake.endpoint)).run()
    assert_lossless(fake, tmp_path, good, bad)


def _child(root, step, endpoint):
    command = [sys.executable, "-m", "tests.datacheck_helpers", str(root), step, endpoint]
    return subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


@pytest.mark.parametrize("step", BOUNDARIES)
def test_sigkill_at_each_step_then_a_rerun_takes_the_dead_checks_lease_over(fake, tmp_path, step):
    good, bad = land(fake)
    assert _child(tmp_path, step, fake.endpoint).wait(60) == -signal.SIGKILL
    assert fake.names(BUCKET, "penguins/.datacheck-lease.json"), "the killed check never released its lease"
    assert _child(tmp_path, "", fake.endpoint).wait(60) == 0
    assert_lossless(fake, tmp_path, good, bad)


def test_seeding_writes_the_shipped_spans_create_only_and_a_rerun_writes_nothing(fake, tmp_path):
    shipped = tmp_path / "shipped"
    (shipped / "span-1").mkdir(parents=True)
    (shipped / "span-1" / "penguins.csv").write_text(f"{HEADER}\n")
    (shipped / "span-1" / "extra.csv").write_text(f"{HEADER}\n")
    fake.put(BUCKET, "penguins/span-1/penguins.csv", f"{HEADER}\n".encode())  # a seed killed halfway
    store = gcs_store(fake.endpoint)
    assert store.seed(shipped) == ["span-1"]  # completed: the missing file only
    assert fake.names(BUCKET, "penguins/span-1/") == ["penguins/span-1/extra.csv", "penguins/span-1/penguins.csv"]
    uploads = [r for r in fake.requests if r.method == "POST" and "upload" in r.path]
    assert len(uploads) == 1 and uploads[0].query.get("ifGenerationMatch") == "0"
    assert store.seed(shipped) == []
    assert len([r for r in fake.requests if r.method == "POST" and "upload" in r.path]) == 1  # nothing sent again


def test_seeding_never_adds_shipped_files_to_a_span_the_check_made(fake, tmp_path):
    shipped = tmp_path / "shipped"
    (shipped / "span-1").mkdir(parents=True)
    (shipped / "span-1" / "other.csv").write_text(f"{HEADER}\n")
    fake.put(BUCKET, "penguins/span-1/batch.json", b'{"batch": "b1"}\n')
    assert gcs_store(fake.endpoint).seed(shipped) == []
    assert fake.names(BUCKET, "penguins/span-1/") == ["penguins/span-1/batch.json"]
    with pytest.raises(FileNotFoundError, match="no span-<N> folders"):
        gcs_store(fake.endpoint).seed(tmp_path / "empty")
