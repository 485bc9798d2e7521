"""The check as a manifest-driven state machine: frozen -> evaluated -> span written -> sources moved ->
submitted -> done.

Each step's result is a create-only object in batches/<batch>/ (or the span's own marker) of the data area's
Store (local files or GCS), written completely or not at all, and each step first looks for its result: a
check killed at any moment and run again resumes the unfinished batch where it stopped, so every valid record
lands in exactly one span, every bad one in quarantine, and the batch's job id (derived from its manifest) is
submitted at most once. The store's lock (a flock locally, a lease object on GCS) makes two checks started
together take turns; the second finds the work done.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.parameters import newest_window
from contracts.run_request import RunRequest, Submitter, job_id_for, lineage_labels
from release.datacheck import batch as batches
from release.datacheck.records import BadRecord, parse_file
from release.datacheck.rules import Rules
from release.datacheck.spans import csv_bytes
from release.datacheck.store import BATCHES, PROCESSED, QUARANTINE, Store, batch_folders, read_json, write_json
from release.monitor.report import latest_flagged

STEPS = ("frozen", "evaluated", "span", "moved", "submitted", "done")
REPORTED_REASONS = 10
# evaluate(valid rows) -> the evaluation record: {"champion": version or None, "metric": ..., "value": ..., ...}.
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
    store: Store
    rules: Rules
    evaluate: Evaluate
    submitter: Submitter
    lineage: Any  # contracts.run_request.Lineage of the code the run executes
    # Called after each step with the step's name: tests inject faults (an exception, a SIGKILL) there.
    hook: Callable[[str], None] = lambda step: None

    def run(self) -> Report:
        report = Report()
        with self.store.locked():
            self.store.prepare()
            self._remove_unfrozen()
            for unfinished in self._unfinished():
                report.batches.append(self._finish(unfinished))
            frozen = self._freeze(report)
            if frozen is not None:
                report.batches.append(self._finish(frozen))
        return report

    def _step(self, name: str) -> None:
        self.hook(name)
        self.store.renew()  # on GCS: stop here if another check took the lease over

    def _remove_unfrozen(self) -> None:
        """Batch folders without a manifest were never frozen (a check died while freezing): their files
        are still in incoming/, so the next freeze takes them again."""
        for batch, names in batch_folders(self.store):
            if "manifest.json" not in names:
                self.store.remove(f"{BATCHES}/{batch}/")

    def _unfinished(self) -> list[str]:
        return [b for b, names in batch_folders(self.store) if "manifest.json" in names and "done.json" not in names]

    def _freeze(self, report: Report) -> str | None:
        """Validate what is in incoming/; freeze it as a batch if enough records are valid, else report it."""
        sources = self._set_aside_redeliveries(batches.read_sources(self.store), report)
        parsed = {s.name: parse_file(s.name, s.data, self.rules) for s in sources}
        valid = [row for s in sources for row in parsed[s.name].valid]
        bad = [record for s in sources for record in parsed[s.name].bad]
        report.waiting_valid, report.waiting_bad = len(valid), len(bad)
        if not sources or len(valid) < self.config.data.min_new_records:
            return None
        batch = batches.batch_id(sources)
        folder = f"{BATCHES}/{batch}"
        counts = {n: (len(p.valid), len(p.bad)) for n, p in parsed.items()}
        # The records first, the manifest last: a manifest means the batch's records are all stored.
        self.store.write_new(f"{folder}/valid.csv", csv_bytes(self.rules.names, valid))
        self.store.write_new(f"{folder}/bad.jsonl", _quarantine_lines(batch, bad))
        self._step("validated")
        write_json(self.store, f"{folder}/manifest.json", batches.manifest(sources, counts, _now()))
        report.waiting_valid = report.waiting_bad = 0
        self._step("frozen")
        return batch

    def _set_aside_redeliveries(self, sources: list[batches.Source], report: Report) -> list[batches.Source]:
        """Move files an earlier batch (or this one) already took, byte for byte, to processed/redelivered/."""
        taken = batches.frozen_files(self.store)
        fresh = []
        for source in sources:
            if source.sha256 not in taken:
                fresh.append(source)
                taken[source.sha256] = f"{source.name}, in this batch"  # the same bytes twice in one listing
                continue
            target = f"{PROCESSED}/redelivered/{source.sha256[:16]}-{source.name}"
            if self.store.move(source.name, target, source.sha256, source.generation):
                report.redelivered.append(f"{source.name} (as {taken[source.sha256]})")
        return fresh

    def _finish(self, batch: str) -> dict[str, Any]:
        folder = f"{BATCHES}/{batch}"
        manifest = read_json(self.store, f"{folder}/manifest.json")
        data = self.store.read(f"{folder}/valid.csv") or b""
        bad = self.store.read(f"{folder}/bad.jsonl") or b""
        if bad:
            self.store.write_new(f"{QUARANTINE}/{batch}.jsonl", bad)
        evaluation = read_json(self.store, f"{folder}/evaluation.json")
        if evaluation is None:
            rows = list(csv.reader(io.StringIO(data.decode())))[1:]
            evaluation = self.evaluate(rows)
            if self.config.data.retrain_on_drift and evaluation.get("champion") is not None:
                # Recorded with the evaluation: a resumed batch decides on what this one saw.
                evaluation["drift"] = latest_flagged(self.store, str(evaluation["champion"]))
            write_json(self.store, f"{folder}/evaluation.json", evaluation)
            evaluation = read_json(self.store, f"{folder}/evaluation.json")
        self._step("evaluated")
        span = self.store.write_span(batch, data)
        self._step("span")
        self._move_sources(batch, manifest)
        self._step("moved")
        retrain, why = self._decide(evaluation)
        submitted = read_json(self.store, f"{folder}/submitted.json")
        if retrain and submitted is None:
            result = self.submitter.submit(self._request(batch, span))
            write_json(self.store, f"{folder}/submitted.json", {"job_id": result.job_id, "location": result.location})
            submitted = read_json(self.store, f"{folder}/submitted.json")
        self._step("submitted")
        outcome = {"batch": batch, "span": span, "evaluation": evaluation, "retrain": retrain, "why": why}
        outcome["submitted"] = submitted
        if submitted is not None:
            outcome["spans"] = list(span_range(self.config, span))
        outcome["records"] = sum(f["valid"] for f in manifest["files"])
        outcome["quarantined"] = sum(f["bad"] for f in manifest["files"])
        outcome["files"] = [{k: f[k] for k in ("name", "valid", "bad")} for f in manifest["files"]]
        # The first reasons, for the report; every bad record is in quarantine/<batch>.jsonl.
        outcome["reasons"] = [
            {k: record[k] for k in ("file", "line", "reason")}
            for record in map(json.loads, bad.decode().splitlines()[:REPORTED_REASONS])
        ]
        write_json(self.store, f"{folder}/done.json", outcome)
        self._step("done")
        return outcome

    def _move_sources(self, batch: str, manifest: dict[str, Any]) -> None:
        """Move exactly the frozen files: a file of the same name with other content (locally) or another
        generation (GCS) is a new arrival and stays."""
        for index, entry in enumerate(manifest["files"]):
            if index:
                self._step("moving")
            target = f"{PROCESSED}/{batch}/{entry['name']}"
            self.store.move(entry["name"], target, entry["sha256"], entry.get("generation"))

    def _decide(self, evaluation: dict[str, Any]) -> tuple[bool, str]:
        bound, gate = self.config.retrain_bound, self.config.evaluation.gate
        if self.config.data.retrain == "always":
            return True, "policy data.retrain: always"
        if evaluation.get("champion") is None:
            return True, "no champion yet"
        value = evaluation["value"]
        if gate.better(bound, value):
            return True, f"champion {gate.name} {value:.3f} {gate.worse_sign()} {bound:g}"
        drift = evaluation.get("drift")
        if drift:
            return True, f"the monitor flagged window {drift['window']} ({'; '.join(drift['reasons'])})"
        return False, f"champion {gate.name} {value:.3f} is no worse than {bound:g}"

    def _request(self, batch: str, span: int) -> RunRequest:
        training = self.config.training
        span_start, span_end = span_range(self.config, span)
        return RunRequest(
            job_id=job_id_for(self.config.pipeline_name, f"data-{batch}"),
            parameters={
                "num_epochs": training.num_epochs,
                "learning_rate": training.learning_rate,
                "span_start": span_start,
                "span_end": span_end,
            },
            labels=lineage_labels(self.lineage, source="data", span_start=span_start, span_end=span_end, trigger=batch),
        )


def span_range(config: EnvironmentConfig, span: int) -> tuple[int, int]:
    """The spans the submitted run trains on, given the batch's new span."""
    # The rolling window ending at the new span, named explicitly so the run's spans are fixed.
    start, _ = newest_window(span, config.training.window_spans)
    return start, span


def _quarantine_lines(batch: str, bad: list[BadRecord]) -> bytes:
    lines = [json.dumps({"batch": batch, **asdict(record)}, sort_keys=True) for record in bad]
    return "".join(f"{line}\n" for line in lines).encode()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
