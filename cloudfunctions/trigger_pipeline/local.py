"""The local backend: a run of the local environment through localcloud.run_service (a checkout only).

The runs are labelled with the working tree's commit and modules hash (what the local worker runs), by the
same code release.submit labels local runs with. localcloud is imported when the backend is first used, never
by the deployed function (its archive does not hold it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from settings import Settings, SettingsError
from submission import Submission

from contracts.run_request import Lineage, SubmitResult


@dataclass
class LocalBackend:
    settings: Settings
    name: str = field(default="local", init=False)

    def __post_init__(self) -> None:
        service = _run_service()
        try:
            self._submitter = service.local_submitter(
                self.settings.local_env_file, self.settings.local_root, self.settings.pipeline
            )
        except service.ConfigError as err:
            raise SettingsError(f"LOCAL_ENV_FILE: {err}") from err
        self._run_lineage = service.run_lineage

    def lineage(self) -> Lineage:
        # Read per message: the working tree a long-lived local server runs may change between two messages.
        lineage: Lineage = self._run_lineage(self._submitter.pipeline)
        return lineage

    def submit(self, submission: Submission) -> SubmitResult:
        result: SubmitResult = self._submitter.submit(submission.request)
        return result


def _run_service() -> Any:
    """localcloud.run_service, or SettingsError saying the local backend needs the repository."""
    try:
        from localcloud import run_service
    except ImportError as err:
        raise SettingsError(
            "TRIGGER_BACKEND=local: the local backend runs only from a checkout of the repository, with its root "
            f"on PYTHONPATH (`nox -s trigger` serves it so; could not import localcloud.run_service: {err})"
        ) from err
    return run_service
