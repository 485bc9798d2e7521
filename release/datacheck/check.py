"""The check as a manifest-driven state machine: frozen -> evaluated -> span written -> sources moved ->
submitted -> done.

Each step's result is a create-only file in batches/<batch>/ (or the span's own marker), written completely
or not at all, and each step first looks for its result: a check killed at any moment and run again
resumes the unfinished batch where it stopped, so every valid record lands in exactly one span, every bad
one in quarantine, and the batch's job id (derived from its manifest) is submitted at most once. The lock
makes two checks started together take turns; the second finds the work done.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.parameters import newest_window
from contracts.run_request import RunRequest, Submitter, job_id_for, lineage_labels
from release.datacheck import batch as batches
from release.datacheck.files import move, read_json, write_json, write_new
from release.datacheck.layout import Layout
from release.datacheck.records import BadRecord, parse_file
from release.datacheck.rules import Rules
from release.datacheck.spans import csv_bytes, remove_partial, write_span

STEPS = ("frozen", "evaluated", "span", "moved", "submitted", "done")
# evaluate(valid rows) -> the evaluation record: {"champion": version or None, "accuracy": ..., ...}.
Evaluate = Callable[[list[list[str]]], dict[str, Any]]


@dataclass
class Report:
    waiting_valid: int = 0
    waiting_bad: int = 0
    # Files whose exact content an earlier batch took (a producer's redelivery): set aside, not ingested twice.
    redelivered: list[str] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Check:
    config: EnvironmentConfig
    layout: Layout
    rules: Rules
    evaluate: Evaluate
    submitter: Submitter
    lineage: Any  # contracts.run_request.Lineage of the code the run executes
    # Called after each step with the step's name: tests inject faults (an exception, a SIGKILL) there.
    hook: Callable[[str], None] = lambda step: None

    def run(self) -> Report:
        report = Report()
        with self.layout.locked():
            remove_partial(self.layout.data_root)
            self._remove_unfrozen()
            for unfinished in self._unfinished():
                report.batches.append(self._finish(unfinished))
            frozen = self._freeze(report)
            if frozen is not None:
                report.batches.append(self._finish(frozen))
        return report

    def _remove_unfrozen(self) -> None:
        """Batch folders without a manifest were never frozen (a check died while freezing): their files
        are still in incoming/, so the next freeze takes them again."""
        if self.layout.batches.is_dir():
            for folder in self.layout.batches.iterdir():
                if folder.is_dir() and not (folder / "manifest.json").is_file():
                    shutil.rmtree(folder)

    def _unfinished(self) -> list[str]:
        if not self.layout.batches.is_dir():
            return []
        folders = sorted(self.layout.batches.iterdir(), key=lambda p: p.name)
        return [p.name for p in folders if (p / "manifest.json").is_file() and not (p / "done.json").is_file()]

    def _freeze(self, report: Report) -> str | None:
        """Validate what is in incoming/; freeze it as a batch if enough records are valid, else report it."""
        sources = self._set_aside_redeliveries(batches.read_sources(self.layout.incoming), report)
        parsed = {s.name: parse_file(s.name, s.data, self.rules) for s in sources}
        valid = [row for s in sources for row in parsed[s.name].valid]
        bad = [record for s in sources for record in parsed[s.name].bad]
        report.waiting_valid, report.waiting_bad = len(valid), len(bad)
        if not sources or len(valid) < self.config.data.min_new_records:
            return None
        batch = batches.batch_id(sources)
        folder = self.layout.batch(batch)
        counts = {n: (len(p.valid), len(p.bad)) for n, p in parsed.items()}
        # The records first, the manifest last: a manifest means the batch's records are all on disk.
        write_new(folder / "valid.csv", csv_bytes(self.rules.names, valid))
        write_new(folder / "bad.jsonl", _quarantine_lines(batch, bad))
        self.hook("validated")
        write_json(folder / "manifest.json", batches.manifest(sources, counts, _now()))
        report.waiting_valid = report.waiting_bad = 0
        self.hook("frozen")
        return batch

    def _set_aside_redeliveries(self, sources: list[batches.Source], report: Report) -> list[batches.Source]:
        """Move files an earlier batch (or this one) already took, byte for byte, to processed/redelivered/."""
        taken = batches.frozen_files(self.layout.batches)
        fresh = []
        for source in sources:
            if source.sha256 not in taken:
                fresh.append(source)
                taken[source.sha256] = f"{source.name}, in this batch"  # the same bytes twice in one listing
                continue
            target = self.layout.processed / "redelivered" / f"{source.sha256[:16]}-{source.name}"
            move(self.layout.incoming / source.name, target)
            report.redelivered.append(f"{source.name} (as {taken[source.sha256]})")
        return fresh

    def _finish(self, batch: str) -> dict[str, Any]:
        folder = self.layout.batch(batch)
        manifest = read_json(folder / "manifest.json")
        data = (folder / "valid.csv").read_bytes()
        bad = (folder / "bad.jsonl").read_bytes()
        if bad:
            write_new(self.layout.quarantine / f"{batch}.jsonl", bad)
        evaluation = read_json(folder / "evaluation.json")
        if evaluation is None:
            rows = list(csv.reader(io.StringIO(data.decode())))[1:]
            write_json(folder / "evaluation.json", self.evaluate(rows))
            evaluation = read_json(folder / "evaluation.json")
        self.hook("evaluated")
        span = write_span(self.layout.data_root, batch, data)
        self.hook("span")
        self._move_sources(batch, manifest)
        self.hook("moved")
        retrain, why = self._decide(evaluation)
        submitted = read_json(folder / "submitted.json")
        if retrain and submitted is None:
            result = self.submitter.submit(self._request(batch, span))
            write_json(folder / "submitted.json", {"job_id": result.job_id, "location": result.location})
            submitted = read_json(folder / "submitted.json")
        self.hook("submitted")
        outcome = {"batch": batch, "span": span, "evaluation": evaluation, "retrain": retrain, "why": why}
        outcome["submitted"] = submitted
        outcome["records"] = sum(f["valid"] for f in manifest["files"])
        outcome["quarantined"] = sum(f["bad"] for f in manifest["files"])
        write_json(folder / "done.json", outcome)
        self.hook("done")
        return outcome

    def _move_sources(self, batch: str, manifest: dict[str, Any]) -> None:
        """Move exactly the frozen files: a file of the same name with other content is a new arrival and stays."""
        for index, entry in enumerate(manifest["files"]):
            if index:
                self.hook("moving")
            source = self.layout.incoming / entry["name"]
            target = self.layout.processed / batch / entry["name"]
            if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != entry["sha256"]:
                continue
            if source.is_file() or target.is_file():
                move(source, target)

    def _decide(self, evaluation: dict[str, Any]) -> tuple[bool, str]:
        threshold = self.config.retrain_below
        if self.config.data.retrain == "always":
            return True, "policy data.retrain: always"
        if evaluation.get("champion") is None:
            return True, "no champion yet"
        accuracy = evaluation["accuracy"]
        if accuracy < threshold:
            return True, f"champion accuracy {accuracy:.3f} < {threshold:g}"
        return False, f"champion accuracy {accuracy:.3f} >= {threshold:g}"

    def _request(self, batch: str, span: int) -> RunRequest:
        # The rolling window ending at the new span, named explicitly so the run's spans are fixed.
        training = self.config.training
        start, _ = newest_window(span, training.window_spans)
        return RunRequest(
            job_id=job_id_for(self.config.pipeline_name, f"data-{batch}"),
            parameters={
                "num_epochs": training.num_epochs,
                "learning_rate": training.learning_rate,
                "span_start": start,
                "span_end": span,
            },
            labels=lineage_labels(self.lineage, source="data", span_start=start, span_end=span, trigger=batch),
        )


def _quarantine_lines(batch: str, bad: list[BadRecord]) -> bytes:
    lines = [json.dumps({"batch": batch, **asdict(record)}, sort_keys=True) for record in bad]
    return "".join(f"{line}\n" for line in lines).encode()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
