"""Local moves take only what was validated: a producer landing a file under a frozen file's name between the
freeze and the move (a hidden temporary name, then a rename, as `labelled_data` lands them) keeps its file in
incoming/, and the frozen bytes are what processed/ holds."""

from __future__ import annotations

import os
import pathlib

import pytest

from release.datacheck import files
from release.datacheck.local_store import TAKEN_PREFIX
from tests.datacheck_helpers import make_check

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"
_serial = iter(range(2_500, 6_000))  # body_mass_g: unique records within the rules


def version(records: int) -> bytes:
    rows = [f"Chinstrap,Dream,49.0,18.5,195,{next(_serial)},female" for _ in range(records)]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def land(root: pathlib.Path, name: str, data: bytes) -> None:
    """A producer's landing: a hidden temporary name, then an atomic rename over whatever is there."""
    incoming = root / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, incoming / name)


def incoming(root: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / "data" / "penguins" / "incoming").iterdir()}


def processed(root: pathlib.Path, batch: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / "data" / "penguins" / "processed" / batch).iterdir()}


@pytest.fixture
def producer_on_read(monkeypatch):
    """Arms a producer that lands `data` under `name` right after the check reads that file for its move (the
    moment between looking at a file and moving it), once."""
    armed: dict[str, object] = {}
    original = pathlib.Path.read_bytes

    def read_bytes(path: pathlib.Path) -> bytes:
        data = original(path)
        if armed and path.name in (armed["name"], f"{TAKEN_PREFIX}{armed['name']}"):
            root, name, new = armed.pop("root"), armed.pop("name"), armed.pop("data")
            armed.clear()
            land(root, name, new)
        return data

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)

    def arm(root: pathlib.Path, name: str, data: bytes):
        def hook(step: str) -> None:
            if step == "span":  # the span is written: the moves come next
                armed.update(root=root, name=name, data=data)

        return hook

    return arm


def test_a_file_landed_while_the_move_checks_it_stays_in_incoming(tmp_path, producer_on_read):
    frozen, newer = version(60), version(60)
    land(tmp_path, "a.csv", frozen)
    [first] = make_check(tmp_path, hook=producer_on_read(tmp_path, "a.csv", newer)).run().batches
    assert processed(tmp_path, first["batch"]) == {"a.csv": frozen}
    assert incoming(tmp_path) == {"a.csv": newer}
    [second] = make_check(tmp_path).run().batches
    assert processed(tmp_path, second["batch"]) == {"a.csv": newer} and incoming(tmp_path) == {}


def test_a_version_taken_by_the_move_but_not_frozen_goes_back_even_when_a_newer_one_landed(tmp_path, producer_on_read):
    frozen, late, latest = version(60), version(60), version(60)
    land(tmp_path, "a.csv", frozen)

    def hook(step: str) -> None:
        if step == "span":
            land(tmp_path, "a.csv", late)  # replaces the frozen version before the move takes it ...
            arm("span")  # ... and another lands while the move checks what it took

    arm = producer_on_read(tmp_path, "a.csv", latest)
    [first] = make_check(tmp_path, hook=hook).run().batches
    assert not (tmp_path / "data" / "penguins" / "processed" / first["batch"]).exists()
    waiting = incoming(tmp_path)
    assert sorted(waiting.values()) == sorted([late, latest]) and waiting["a.csv"] == latest
    [second] = make_check(tmp_path).run().batches
    assert sorted(processed(tmp_path, second["batch"]).values()) == sorted([late, latest])
    assert incoming(tmp_path) == {}


def test_a_move_that_crashed_after_taking_the_file_is_finished_by_the_next_check(tmp_path, monkeypatch):
    frozen = version(60)
    land(tmp_path, "a.csv", frozen)
    real_move = files.move

    def crash(source, target):
        raise RuntimeError("killed between taking the file and moving it")

    monkeypatch.setattr(files, "move", crash)
    with pytest.raises(RuntimeError):
        make_check(tmp_path).run()
    assert list(incoming(tmp_path)) == [f"{TAKEN_PREFIX}a.csv"]  # hidden: no check freezes it again
    monkeypatch.setattr(files, "move", real_move)
    [finished] = make_check(tmp_path).run().batches
    assert processed(tmp_path, finished["batch"]) == {"a.csv": frozen} and incoming(tmp_path) == {}
    assert finished["span"] == 1 and len(make_check(tmp_path).submitter.runs()) == 1
