"""The `vertex` backend: a Vertex AI PipelineJob from a published, immutable template."""

from __future__ import annotations

from typing import Any

from contracts.config import EnvironmentConfig
from contracts.google_apis import aiplatform_init_arguments
from contracts.run_request import (
    BackendUnavailableError,
    RunRequest,
    SubmissionError,
    SubmitResult,
    check_immutable_template,
    console_url,
    pipeline_job_arguments,
)


class VertexSubmitter:
    """Submit runs of one compiled template to Vertex AI Pipelines.

    `template_uri` must be immutable (the content-addressed gs://.../templates/<sha256>/pipeline.json that
    publish returns, or a local file): mutable registry tags do not resolve reliably in PipelineJob
    (python-aiplatform #2181).
    """

    backend = "vertex"

    def __init__(self, config: EnvironmentConfig, template_uri: str, credentials: Any = None) -> None:
        if config.gcp is None:
            raise SubmissionError(f"environment '{config.name}' has no gcp section; the vertex backend needs one")
        self.config = config
        self.template_uri = check_immutable_template(template_uri)
        self.credentials = credentials

    def build_job(self, request: RunRequest) -> Any:
        """The PipelineJob exactly as it will be created (no API call)."""
        from google.cloud import aiplatform

        gcp = self.config.gcp
        assert gcp is not None
        aiplatform.init(project=gcp.project, location=gcp.region, **aiplatform_init_arguments(gcp.region))
        arguments = pipeline_job_arguments(
            request,
            pipeline_name=self.config.pipeline_name,
            template=self.template_uri,
            pipeline_root=gcp.pipeline_root(self.config.pipeline_name),
            project=gcp.project,
            location=gcp.region,
        )
        return aiplatform.PipelineJob(**arguments, credentials=self.credentials)

    def submit(self, request: RunRequest) -> SubmitResult:
        from google.api_core import exceptions

        gcp = self.config.gcp
        assert gcp is not None
        try:
            job = self.build_job(request)
        except FileNotFoundError as err:
            raise SubmissionError(f"template {self.template_uri!r} not found: {err}") from err
        created = True
        try:
            job.submit(service_account=gcp.pipeline_service_account, network=gcp.network)
        except exceptions.AlreadyExists:
            created = False  # Same job id: this trigger already started its run (idempotent resubmission).
        except (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError) as err:
            raise BackendUnavailableError(f"Vertex AI did not accept job {request.job_id}: {err}") from err
        url = console_url(request.job_id, project=gcp.project, region=gcp.region)
        return SubmitResult(job_id=request.job_id, backend=self.backend, created=created, location=url)
