"""The vertex backend: a Vertex AI PipelineJob of the environment's current template, judged against its champion.

For each message it resolves, as `nox -s submit` does (release/vertex.py):
- the template: the pin (TEMPLATE_URI, its lineage record read once per instance: both are immutable), else
  the current-template pointer (ARTIFACTS_URI/templates/current/<PIPELINE>.json), read on every message, not cached, so
  the message after CI moved the pointer already runs the new template;
- the baseline: the registry's champion, `GetModel projects/P/locations/R/models/<model>@champion` (Vertex AI's
  ModelService over REST, through contracts/google_apis.py); NotFound means there is no champion yet.
The job is contracts.run_request.pipeline_job_arguments with the environment's values (ENVIRONMENT_PARAMETERS)
and that baseline, labelled with the template's lineage, `template_source` (pointer or pin) and `baseline`.
google-cloud-aiplatform and google-cloud-storage are imported on first use, not at a cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logs import log
from settings import Settings, SettingsError
from submission import Submission

from contracts.current_template import ResolvedTemplate, current_location, read_current
from contracts.environment_parameters import with_baseline
from contracts.google_apis import (
    aiplatform_init_arguments,
    already_exists,
    client_options,
    storage_client_options,
    vertex_host,
)
from contracts.registry import CHAMPION, model_root
from contracts.run_request import (
    Baseline,
    Lineage,
    SubmitResult,
    console_url,
    lineage_location,
    pipeline_job_arguments,
    read_lineage_record,
    submission_labels,
    template_sha256,
    with_labels,
)


@dataclass
class VertexBackend:
    """Submits PipelineJobs; an existing job with the same id is success (a redelivery started nothing)."""

    settings: Settings
    name: str = field(default="vertex", init=False)
    _pinned: ResolvedTemplate | None = field(default=None, init=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # Reentrant: resolving the pin makes the storage client under the same lock.
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def lineage(self) -> Lineage:
        """Nothing before the template is resolved: `submit` labels the run with the resolved template's lineage."""
        return Lineage()

    def template(self) -> ResolvedTemplate:
        """The pin (its lineage read once: it is immutable), else the pointer as it is now."""
        settings = self.settings
        if settings.template_uri is None:
            assert settings.artifacts_uri is not None and settings.pipeline is not None
            return current_template(settings.artifacts_uri, settings.pipeline, self._storage)
        with self._lock:
            if self._pinned is None:
                lineage = template_lineage(settings.template_uri, self._storage)
                self._pinned = ResolvedTemplate(settings.template_uri, "pin", lineage)
            return self._pinned

    def champion(self) -> Baseline:
        """The registry's champion now (GetModel <model>@champion), or no baseline when there is none."""
        from google.api_core import exceptions

        try:
            model = self._models().get_model(name=f"{self.settings.model}@{CHAMPION}")
        except exceptions.NotFound:
            return Baseline()
        try:
            return Baseline(str(model.version_id), model_root(model.artifact_uri))
        except ValueError as err:
            raise SettingsError(f"champion {model.version_id} of {self.settings.model}: {err}") from None

    def submit(self, submission: Submission) -> SubmitResult:
        from google.api_core import exceptions
        from google.cloud import aiplatform

        settings = self.settings
        assert settings.pipeline_root and settings.project and settings.region
        template, baseline = self.template(), self.champion()
        request = with_labels(submission.request, submission_labels(template.lineage, template.source, baseline))
        environment = with_baseline(settings.environment_values(), baseline.uri)
        aiplatform.init(
            project=settings.project, location=settings.region, **aiplatform_init_arguments(settings.region)
        )
        job = aiplatform.PipelineJob(
            **pipeline_job_arguments(
                request,
                pipeline_name=settings.pipeline_name,
                template=template.uri,
                pipeline_root=settings.pipeline_root,
                project=settings.project,
                location=settings.region,
                environment=environment,
            )
        )
        created = True
        try:
            job.submit(service_account=settings.service_account, network=settings.network)
        except exceptions.Conflict as err:  # REST: 409 (google_apis.already_exists tells ALREADY_EXISTS apart)
            if not already_exists(err):
                raise
            created = False  # This trigger already started its run: a redelivery.
        log(
            "INFO",
            f"job {request.job_id}: template {template.sha256 or template.uri} ({template.source}), "
            f"baseline {baseline.label}",
            event="resolved",
            message_id=submission.message_id,
            job_id=request.job_id,
            template=template.uri,
            template_source=template.source,
            baseline=baseline.version,
        )
        url = console_url(request.job_id, project=settings.project, region=settings.region)
        return SubmitResult(request.job_id, self.name, created, url)

    def _storage(self) -> Any:
        """One storage client per instance, made on first use (only for gs:// locations)."""
        with self._lock:
            if "storage" not in self._clients:
                from google.cloud import storage

                self._clients["storage"] = storage.Client(
                    project=self.settings.project, client_options=storage_client_options()
                )
            return self._clients["storage"]

    def _models(self) -> Any:
        """One ModelService client per instance: REST, at the regional endpoint (contracts/google_apis.py)."""
        with self._lock:
            if "models" not in self._clients:
                from google.cloud.aiplatform_v1 import ModelServiceClient

                region = self.settings.region
                assert region is not None
                self._clients["models"] = ModelServiceClient(
                    transport="rest", client_options=client_options(vertex_host(region))
                )
            return self._clients["models"]


def current_template(artifacts: str, pipeline: str, storage: Callable[[], Any]) -> ResolvedTemplate:
    """`pipeline`'s pointer in `artifacts`, as a template with its lineage; SettingsError if absent or broken."""
    where = current_location(artifacts, pipeline)
    data = _read(where, storage)
    if data is None:
        raise SettingsError(
            f"no current template at {where}: CI sets it after its first submitted run "
            f"(or pin pipelines.{pipeline}.template_sha256)"
        )
    try:
        current = read_current(data, where)
    except ValueError as err:
        raise SettingsError(f"ARTIFACTS_URI: {err}") from None
    return ResolvedTemplate(current.template, "pointer", current.lineage())


def template_lineage(template: str, storage: Callable[[], Any]) -> Lineage:
    """The lineage record beside a pinned template; without one, only the template itself is known."""
    where = lineage_location(template)
    data = _read(where, storage)
    if data is None:
        # A template published from uncommitted code has no record; its runs are still labelled by template.
        log("WARNING", f"no lineage record at {where}: runs are labelled without commit and modules", event="lineage")
        return Lineage(template_sha256=template_sha256(template))
    try:
        return read_lineage_record(data, where, template)
    except ValueError as err:
        raise SettingsError(f"TEMPLATE_URI: {err}") from None


def _read(location: str, storage: Callable[[], Any]) -> bytes | None:
    """The object's bytes (gs:// or a local path), or None if there is none; other failures raise.

    `storage` makes (or returns) the storage client: only a gs:// location needs one."""
    if not location.startswith("gs://"):
        try:
            return Path(location).read_bytes()
        except FileNotFoundError:
            return None
    from google.api_core import exceptions
    from google.cloud import storage as gcs

    try:
        return bytes(gcs.Blob.from_uri(location, client=storage()).download_as_bytes())
    except exceptions.NotFound:
        return None
