"""The whole data check against gcp-storage-emulator: a real GCS JSON API server, end to end through
google-cloud-storage. The emulator ignores generation preconditions (it overwrites where GCS answers 412), so
the races and crash paths that rely on them are tested against tests/gcs_fake.py (test_datacheck_gcs.py)."""

import json

import pytest

from tests.datacheck_helpers import gcs_store, make_check
from tests.gcs_emulator import client_for, running_emulator

pytestmark = pytest.mark.server

BUCKET = "penguins-test-data"
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"


@pytest.fixture(scope="module")
def endpoint():
    with running_emulator() as found:
        yield found


def test_a_batch_on_the_emulator_becomes_one_span_quarantine_and_one_run(endpoint, tmp_path):
    client = client_for(endpoint)
    bucket = client.create_bucket(BUCKET)
    good = [f"Gentoo,Biscoe,47.5,15.0,217,{3000 + i},female" for i in range(60)]
    bad = ["Emperor,Biscoe,47.5,15.0,217,4000,female"]
    bucket.blob("penguins/incoming/a.csv").upload_from_string("\n".join([HEADER, *good[:30]]) + "\n")
    bucket.blob("penguins/incoming/b.csv").upload_from_string("\n".join([HEADER, *good[30:], *bad]) + "\n")
    bucket.blob("penguins/incoming/.b.csv.tmp").upload_from_string(HEADER + "\n")  # still being written
    store = gcs_store(endpoint)
    store.write_new("span-1/penguins.csv", (HEADER + "\n").encode())  # a shipped span: the batch is span-2

    [outcome] = make_check(tmp_path, store=store).run().batches
    assert (outcome["span"], outcome["records"], outcome["quarantined"], outcome["retrain"]) == (2, 60, 1, True)
    assert sorted(store.span_rows(2).decode().splitlines()[1:]) == sorted(good)
    [quarantine] = store.keys("quarantine/")
    assert [json.loads(line)["text"] for line in store.read(quarantine).decode().splitlines()] == bad
    names = sorted(b.name for b in client.list_blobs(BUCKET, prefix="penguins/"))
    assert [n for n in names if "/incoming/" in n] == ["penguins/incoming/.b.csv.tmp"]
    assert f"penguins/processed/{outcome['batch']}/a.csv" in names
    assert "penguins/.datacheck-lease.json" not in names
    assert len(make_check(tmp_path).submitter.runs()) == 1

    assert make_check(tmp_path, store=gcs_store(endpoint)).run().batches == []  # run again: nothing to do
    assert store.span_numbers() == [1, 2] and len(make_check(tmp_path).submitter.runs()) == 1
