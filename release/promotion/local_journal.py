"""The local move journal and alias pointers, beside the MLflow registry under the local root, one folder per
registered model (each pipeline has its own, <pipeline>-<environment>, in the same MLflow registry):

    <registry>/models/<model>/alias-history.jsonl   one JSON record per line, appended and fsynced, never
                                          rewritten: {"sequence": 7, "state": "pending", "move": {...}} (the
                                          intent), then {"sequence": 7, "state": "committed"|"aborted", ...}
    <registry>/models/<model>/aliases/<alias>.json  where the alias points, replaced in one rename (the local
                                          server watches each champion's)

A process killed while appending leaves a torn last line: readers ignore it (that record was never written,
and nothing after it happened), and the next append cuts it off first. A damaged line before the last one is
not a crash's doing: reading stops there, naming the file and the line. Lines written before moves had
states (a bare move) are committed moves.

A registry from before these folders kept one model's files at its root (alias-history.jsonl, aliases/,
model-tests.jsonl): the local mover moves them into that model's folder (`adopt_root_files`) when the registry
holds that model alone; with several models they stay where they are, for a person to move.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from contracts.registry import AliasMove, RegistryError
from release.promotion.journal import STATES, Entry, State

JOURNAL = "alias-history.jsonl"
MODELS = "models"
POINTERS = "aliases"
# What a registry kept at its root for its one model before each model had a folder (records.py: LOCAL_FILE).
ROOT_FILES = (JOURNAL, POINTERS, "model-tests.jsonl")


def model_folder(registry_root: Path, model_name: str) -> Path:
    """Where one registered model's moves, pointers and model-test outcomes are kept: <registry>/models/<model>."""
    return registry_root / MODELS / model_name


def pointer_path(folder: Path, alias: str) -> Path:
    """The pointer of `alias` in a model's folder (`model_folder`)."""
    return folder / POINTERS / f"{alias}.json"


def root_files(registry_root: Path) -> list[Path]:
    """The files a registry from before per-model folders kept at its root, for its one model."""
    return [registry_root / name for name in ROOT_FILES if (registry_root / name).exists()]


def adopt_root_files(registry_root: Path, model_name: str) -> list[str]:
    """Move the root's files into `model_name`'s folder, if that has none of its own yet; what moved.

    The caller holds the registry lock and knows the registry holds that model alone (they were its files).
    """
    folder = model_folder(registry_root, model_name)
    found = root_files(registry_root)
    if not found or any((folder / path.name).exists() for path in found):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for path in found:
        os.replace(path, folder / path.name)
    _fsync_folder(folder)
    _fsync_folder(registry_root)
    return [path.name for path in found]


def read_lines(path: Path) -> list[tuple[int, bytes]]:
    """(line number, bytes) of every complete, non-blank line; a torn last line is left out."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    *lines, _torn = data.split(b"\n")  # The part after the last newline is a torn write, or empty.
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def append_line(path: Path, line: str) -> None:
    """Append `line` durably (fsync), first cutting off what a killed writer left after the last newline."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.ftruncate(fd, os.pread(fd, size, 0).rfind(b"\n") + 1)
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a created or renamed file's name durable, not only its bytes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalJournal:
    """The journal and pointers of one registered model of the local registry at `registry_root`."""

    def __init__(self, registry_root: Path, model_name: str) -> None:
        self.root = model_folder(registry_root, model_name)
        self.path = self.root / JOURNAL

    def entries(self) -> list[Entry]:
        found: dict[int, Entry] = {}
        for number, line in read_lines(self.path):
            entry = self._entry(line, number, len(found) + 1)
            found[entry.sequence] = entry  # An outcome replaces its intent.
        return [found[sequence] for sequence in sorted(found)]

    def _entry(self, line: bytes, number: int, ordinal: int) -> Entry:
        try:
            record: dict[str, Any] = json.loads(line)
            if "state" not in record:  # A move recorded before moves had states: it happened.
                return Entry(ordinal, "committed", AliasMove.model_validate(record))
            state: State = record["state"]
            if state not in STATES:
                raise ValueError(f"unknown state {state!r}")
            move = AliasMove.model_validate(record["move"])
            return Entry(int(record["sequence"]), state, move, record.get("note"))
        except (ValueError, KeyError, TypeError) as err:
            raise RegistryError(f"{self.path}, line {number}: not a journal record ({err}); repair it by hand") from err

    def next_sequence(self) -> int:
        entries = self.entries()
        return entries[-1].sequence + 1 if entries else 1

    def record(self, sequence: int, state: State, move: AliasMove, note: str | None = None) -> Entry:
        """Append one record and fsync it; the caller holds the registry lock."""
        record = {"sequence": sequence, "state": state, "move": json.loads(move.model_dump_json()), "note": note}
        append_line(self.path, json.dumps(record, sort_keys=True))
        return Entry(sequence, state, move, note)

    def pointer_file(self, alias: str) -> Path:
        return pointer_path(self.root, alias)

    def pointer(self, alias: str) -> str | None:
        """The version the alias's pointer names, or None when there is none."""
        record = self.pointer_record(alias)
        return None if record is None else str(record["version"])

    def pointer_record(self, alias: str) -> dict[str, Any] | None:
        """The alias's pointer: {"alias", "version", "at"} and, for a canary's candidate, "percent"."""
        try:
            record = json.loads(pointer_path(self.root, alias).read_text())
            str(record["version"])
            return dict(record)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as err:
            raise RegistryError(
                f"{pointer_path(self.root, alias)}: unreadable ({err}); `models repair` rewrites it"
            ) from err

    def write_pointer(self, alias: str, version: str | None, at: str, percent: int | None = None) -> None:
        """Point `alias` at `version` in one rename (None: remove the pointer), with a canary's `percent`;
        durable when this returns."""
        path = pointer_path(self.root, alias)
        path.parent.mkdir(parents=True, exist_ok=True)
        if version is None:
            path.unlink(missing_ok=True)
        else:
            record: dict[str, Any] = {"alias": alias, "version": version, "at": at}
            if percent is not None:
                record["percent"] = percent
            data = json.dumps(record) + "\n"
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        _fsync_folder(path.parent)
