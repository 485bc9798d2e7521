"""The `vertex` backend: a Vertex AI PipelineJob of a published, immutable template, with the environment's values.

The one template serves every cloud environment: each job gets the environment's parameter values
(contracts.environment_parameters) and the baseline its gate compares against, the registry's champion when
the job is submitted (read through components.registry). Its labels say which template (and whether the
pointer, a pin or the command line chose it), the template's lineage, and which champion was the baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.current_template import ResolvedTemplate
from contracts.environment_parameters import champion_baseline, environment_parameters
from contracts.google_apis import aiplatform_init_arguments, already_exists
from contracts.registry import RegistryError, registry_target
from contracts.run_request import (
    BackendUnavailableError,
    Baseline,
    Lineage,
    RunRequest,
    SubmissionError,
    SubmitResult,
    check_immutable_template,
    console_url,
    pipeline_job_arguments,
    submission_labels,
    template_sha256,
    with_labels,
)


class VertexSubmitter:
    """Submit runs of one compiled template to Vertex AI Pipelines.

    `template` must be immutable (the content-addressed gs://.../templates/<sha256>/pipeline.json that
    publish returns, or a local file): mutable registry tags do not resolve reliably in PipelineJob
    (python-aiplatform #2181). `baseline`: how to find the champion (default: the environment's registry).
    """

    backend = "vertex"

    def __init__(
        self,
        config: EnvironmentConfig,
        template: ResolvedTemplate | str,
        credentials: Any = None,
        baseline: Callable[[], Baseline] | None = None,
    ) -> None:
        if config.gcp is None:
            raise SubmissionError(f"environment '{config.name}' has no gcp section; the vertex backend needs one")
        if isinstance(template, str):
            template = ResolvedTemplate(template, "explicit", Lineage(template_sha256=template_sha256(template)))
        check_immutable_template(template.uri)
        self.config = config
        self.template = template
        self.credentials = credentials
        self._baseline = baseline or self._champion
        # The baseline of the last submission, for the submit result (and the pointer's record of it).
        self.last_baseline: Baseline | None = None
        self._lineage_read = False

    @property
    def template_uri(self) -> str:
        return self.template.uri

    def _champion(self) -> Baseline:
        from components.registry import open_registry

        try:
            return champion_baseline(open_registry(registry_target(self.config), credentials=self.credentials))
        except RegistryError as err:  # a champion that cannot be a baseline: nothing is submitted
            raise SubmissionError(str(err)) from None

    def build_job(self, request: RunRequest, baseline: Baseline) -> Any:
        """The PipelineJob exactly as it will be created (no API call)."""
        from google.cloud import aiplatform

        gcp = self.config.gcp
        assert gcp is not None
        aiplatform.init(project=gcp.project, location=gcp.region, **aiplatform_init_arguments(gcp.region))
        arguments = pipeline_job_arguments(
            request,
            pipeline_name=self.config.pipeline_name,
            template=self.template.uri,
            pipeline_root=gcp.pipeline_root(self.config.pipeline_name),
            project=gcp.project,
            location=gcp.region,
            environment=environment_parameters(self.config, baseline_model=baseline.uri),
        )
        return aiplatform.PipelineJob(**arguments, credentials=self.credentials)

    def labelled(self, request: RunRequest, baseline: Baseline) -> RunRequest:
        """`request` with the template's lineage, where it came from, and the baseline as labels."""
        return with_labels(request, submission_labels(self._lineage(), self.template.source, baseline))

    def _lineage(self) -> Lineage:
        """The template's lineage: the pointer's record, or (read once) the record beside the template."""
        if self.template.source == "explicit" and not self._lineage_read:
            from release.publishing.templates import template_lineage

            try:
                lineage = template_lineage(self.template.uri)
            except ValueError as err:  # a malformed lineage record
                raise SubmissionError(str(err)) from None
            self.template = dataclasses.replace(self.template, lineage=lineage)
            self._lineage_read = True
        return self.template.lineage

    def submit(self, request: RunRequest) -> SubmitResult:
        from google.api_core import exceptions

        gcp = self.config.gcp
        assert gcp is not None
        baseline = self._baseline()
        request = self.labelled(request, baseline)
        try:
            job = self.build_job(request, baseline)
        except FileNotFoundError as err:
            raise SubmissionError(f"template {self.template.uri!r} not found: {err}") from err
        created = True
        try:
            job.submit(service_account=gcp.pipeline_service_account, network=gcp.network)
        except exceptions.Conflict as err:  # REST: 409 (google_apis.already_exists tells ALREADY_EXISTS apart)
            if not already_exists(err):
                raise
            created = False  # Same job id: this trigger already started its run (idempotent resubmission).
        except (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError) as err:
            raise BackendUnavailableError(f"Vertex AI did not accept job {request.job_id}: {err}") from err
        self.last_baseline = baseline
        url = console_url(request.job_id, project=gcp.project, region=gcp.region)
        return SubmitResult(job_id=request.job_id, backend=self.backend, created=created, location=url)
