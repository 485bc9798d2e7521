"""Model-test outcomes, recorded with the version they tested and the tests they ran.

    local:   <registry>/models/<model>/model-tests.jsonl, beside the model's move journal, one outcome per
             line, appended and fsynced (a torn last line is ignored, as in the journal)
    Vertex:  gs://<prefix>-registry/<model>/history/model-tests/<version>-<tests sha256>.json, create-only:
             inside the move journal's folder, so the one grant that lets the promote builds write the history
             (infra/access.py) covers them, and nothing else may write them

Only a test's verdict is recorded (passed, or SmokeTestFailedError); a test that could not run (the model's
files unreadable for a moment, a cloud error) is not an outcome. The tests are deterministic on the same
files, so the first outcome for a version and a tests digest stands.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from contracts.registry import RegistryError, RegistryTarget
from release.promotion.local_journal import append_line, model_folder, read_lines

LOCAL_FILE = "model-tests.jsonl"


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    content_sha256: str
    tests_sha256: str
    passed: bool
    # "passed", or what failed.
    detail: str
    at: str
    # What ran them: a promotion, the model-tests route, a local run after it registered the version.
    by: str

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"version {self.version}: model tests {self.tests_sha256[:12]} {verdict} ({self.by}, {self.at[:19]})"


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Outcomes(Protocol):
    def record(self, outcome: Outcome) -> Outcome: ...

    def find(self, version: str, tests_sha256: str) -> Outcome | None: ...


class LocalOutcomes:
    def __init__(self, folder: Path) -> None:
        """`folder`: the model's (release/promotion/local_journal.py: model_folder)."""
        self.path = folder / LOCAL_FILE

    def record(self, outcome: Outcome) -> Outcome:
        append_line(self.path, outcome.model_dump_json())
        return outcome

    def find(self, version: str, tests_sha256: str) -> Outcome | None:
        found = None
        for number, line in read_lines(self.path):
            try:
                outcome = Outcome.model_validate_json(line)
            except ValueError as err:
                raise RegistryError(f"{self.path}, line {number}: not a model-test outcome ({err})") from err
            if (outcome.version, outcome.tests_sha256) == (version, tests_sha256):
                found = found or outcome  # The first verdict stands.
        return found


class GcsOutcomes:
    def __init__(self, bucket: Any, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.rstrip("/")

    def _name(self, version: str, tests_sha256: str) -> str:
        return f"{self.prefix}/{version}-{tests_sha256}.json"

    def record(self, outcome: Outcome) -> Outcome:
        from google.api_core import exceptions

        blob = self.bucket.blob(self._name(outcome.version, outcome.tests_sha256))
        try:
            blob.upload_from_string(outcome.model_dump_json(), if_generation_match=0, content_type="application/json")
        except exceptions.PreconditionFailed:
            # Recorded first by another run of the same tests on the same version: that verdict stands.
            return self.find(outcome.version, outcome.tests_sha256) or outcome
        return outcome

    def find(self, version: str, tests_sha256: str) -> Outcome | None:
        from google.api_core import exceptions

        try:
            data = self.bucket.blob(self._name(version, tests_sha256)).download_as_bytes()
        except exceptions.NotFound:
            return None
        return Outcome.model_validate(json.loads(data))


def outcomes_for(target: RegistryTarget, storage_client: Any = None, credentials: Any = None) -> Outcomes:
    """Where `target`'s model-test outcomes are kept (in its move journal's folder, below the journal's entries)."""
    if target.backend == "mlflow":
        assert target.root is not None
        return LocalOutcomes(model_folder(Path(target.root), target.model_name))
    assert target.history_uri is not None
    bucket, _, history = target.history_uri.removeprefix("gs://").partition("/")
    client = storage_client or _storage(target, credentials)
    return GcsOutcomes(client.bucket(bucket), f"{history.rstrip('/')}/model-tests")


def _storage(target: RegistryTarget, credentials: Any) -> Any:
    from google.cloud import storage

    from contracts.google_apis import storage_client_options

    return storage.Client(project=target.project, credentials=credentials, client_options=storage_client_options())
