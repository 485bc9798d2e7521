"""The vertex backend: a Vertex AI PipelineJob from the published template, labelled with its lineage.

The PipelineJob's arguments are contracts.run_request.pipeline_job_arguments, the same construction CI's
submitter (release/vertex.py) uses. The template's lineage record (lineage.json beside it, written by
`nox -s publish`: commit, modules hash, image) is read once per instance, so an event run carries the same
commit, modules and template labels as a run CI starts. google-cloud-aiplatform and google-cloud-storage are
imported on first use, not at a cold start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from logs import log
from settings import Settings, SettingsError
from submission import Submission

from contracts.google_apis import aiplatform_init_arguments, storage_client_options
from contracts.run_request import (
    Lineage,
    SubmitResult,
    console_url,
    lineage_location,
    pipeline_job_arguments,
    read_lineage_record,
    template_sha256,
)


@dataclass
class VertexBackend:
    """Submits PipelineJobs; an existing job with the same id is success (a redelivery started nothing)."""

    settings: Settings
    name: str = field(default="vertex", init=False)
    _lineage: Lineage | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def lineage(self) -> Lineage:
        """The template's lineage, read on first use and kept (the template is immutable, so is its record).

        A failed read (GCS unavailable) is not kept: it raises, the message is retried and read again.
        """
        with self._lock:
            if self._lineage is None:
                self._lineage = template_lineage(self.settings)
            return self._lineage

    def submit(self, submission: Submission) -> SubmitResult:
        from google.api_core import exceptions
        from google.cloud import aiplatform

        settings, request = self.settings, submission.request
        assert settings.template_uri and settings.pipeline_root and settings.project and settings.region
        aiplatform.init(
            project=settings.project, location=settings.region, **aiplatform_init_arguments(settings.region)
        )
        job = aiplatform.PipelineJob(
            **pipeline_job_arguments(
                request,
                pipeline_name=settings.pipeline_name,
                template=settings.template_uri,
                pipeline_root=settings.pipeline_root,
                project=settings.project,
                location=settings.region,
            )
        )
        created = True
        try:
            job.submit(service_account=settings.service_account, network=settings.network)
        except exceptions.AlreadyExists:
            created = False  # This trigger already started its run: a redelivery.
        url = console_url(request.job_id, project=settings.project, region=settings.region)
        return SubmitResult(request.job_id, self.name, created, url)


def template_lineage(settings: Settings) -> Lineage:
    """The lineage record beside TEMPLATE_URI; without one, only the template itself is known."""
    template = settings.template_uri
    assert template is not None
    where = lineage_location(template)
    data = _read(where, settings.project)
    if data is None:
        # A template published from uncommitted code has no record; its runs are still labelled by template.
        log("WARNING", f"no lineage record at {where}: runs are labelled without commit and modules", event="lineage")
        return Lineage(template_sha256=template_sha256(template))
    try:
        return read_lineage_record(data, where, template)
    except ValueError as err:
        raise SettingsError(f"TEMPLATE_URI: {err}") from None


def _read(location: str, project: str | None) -> bytes | None:
    """The object's bytes (gs:// or a local path), or None if there is none; other failures raise."""
    if not location.startswith("gs://"):
        try:
            return Path(location).read_bytes()
        except FileNotFoundError:
            return None
    from google.api_core import exceptions
    from google.cloud import storage

    client = storage.Client(project=project, client_options=storage_client_options())
    try:
        return bytes(storage.Blob.from_uri(location, client=client).download_as_bytes())
    except exceptions.NotFound:
        return None
