"""Helpers (not fixtures) for the data check tests, importable by a child process that a test SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from contracts.config import load_environment
from contracts.run_request import Lineage, RunRequest, SubmitResult
from pipelines.sources import pipeline_sources
from release.datacheck.check import Check
from release.datacheck.layout import open_store
from release.datacheck.rules import load_rules

SCHEMA_FILE = pipeline_sources("penguins").schema_file


class FileSubmitter:
    """Reserves job ids create-only in a folder, as the local run service does, and logs every call."""

    backend = "test"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def submit(self, request: RunRequest) -> SubmitResult:
        with open(self.folder / "calls.log", "a") as log:
            log.write(request.job_id + "\n")
        try:
            with open(self.folder / f"{request.job_id}.json", "x") as out:
                json.dump({"parameters": request.parameters, "labels": request.labels}, out)
            created = True
        except FileExistsError:
            created = False
        return SubmitResult(request.job_id, self.backend, created, str(self.folder / request.job_id))

    def runs(self) -> dict[str, dict]:
        return {p.stem: json.loads(p.read_text()) for p in self.folder.glob("*.json")}


def fixed_evaluation(accuracy: float | None):
    def evaluate(rows):
        if accuracy is None:
            return {"champion": None, "records": len(rows)}
        return {"champion": "1", "records": len(rows), "metric": "SparseCategoricalAccuracy", "value": accuracy}

    return evaluate


def make_check(root: Path, accuracy: float | None = 0.5, hook=lambda step: None, store=None, **data) -> Check:
    """A check of the local data area under `root`, or of `store` (a GcsStore); submissions under root/submitted."""
    config = load_environment("local", "penguins")
    if data:
        config = config.with_settings(data=config.data.model_copy(update=data))
    return Check(
        config=config,
        store=store or open_store(config, root),
        rules=load_rules(SCHEMA_FILE, "species"),
        evaluate=fixed_evaluation(accuracy),
        submitter=FileSubmitter(root / "submitted"),
        lineage=Lineage(commit="abc"),
        hook=hook,
    )


def kill_at(step: str):
    """A hook that SIGKILLs this process at `step` (nothing runs after it: no finally, no flush)."""

    def hook(reached: str) -> None:
        if reached == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def gcs_store(endpoint: str, bucket: str = "penguins-test-data", lease_seconds: float = 900.0):
    """A GcsStore of gs://<bucket>/penguins/ at a fake or emulated endpoint, with anonymous credentials."""
    from release.datacheck.gcs_store import GcsStore
    from tests.gcs_emulator import client_for

    return GcsStore.of(client_for(endpoint), f"gs://{bucket}/penguins", lease_seconds=lease_seconds, wait_seconds=60)


if __name__ == "__main__":
    # python -m tests.datacheck_helpers ROOT [STEP [GCS_ENDPOINT]]: one check, killed at STEP if given; of the
    # GCS data area at GCS_ENDPOINT (with a 1 s lease, so the rerun takes the dead check's lease over) if given.
    root = Path(sys.argv[1])
    step = sys.argv[2] if len(sys.argv) > 2 else ""
    store = gcs_store(sys.argv[3], lease_seconds=1.0) if len(sys.argv) > 3 else None
    make_check(root, hook=kill_at(step), store=store).run()
