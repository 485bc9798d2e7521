"""The registry push reads its run's lineage from its own PipelineJob: the exact GetPipelineJob request (the
real PipelineServiceClient, anonymous credentials, a stand-in under its REST transport), and the template's
lineage record on the GCS API emulator."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1.services.pipeline_service.transports.rest import PipelineServiceRestTransport
from google.cloud.aiplatform_v1.types import pipeline_job

from components.registry.vertex_job import JOB_PLACEHOLDER, run_lineage
from components.registry_push import Executor
from contracts.registry import RegistryError

SHA = "4f" * 32
COMMIT = "abc123def4567890abc123def4567890abc123de"
MODULES = "8502dcf44e3d" + "0" * 52
JOB = "projects/123456789012/locations/europe-west4/pipelineJobs/penguins-dev-scheduler-0123456789abcdef"
COMPILED = {"modules": MODULES[:12], "image": "europe-west4-docker.pkg.dev/p/r/pipeline@sha256:" + "0" * 64}


@pytest.fixture
def job_service(monkeypatch):
    """The PipelineJob a scheduled run was created as (labels as contracts.run_request.lineage_labels sets them)."""
    sent = []
    job = pipeline_job.PipelineJob(
        name=JOB,
        template_uri=f"gs://penguins-dev-artifacts/templates/{SHA}/pipeline.json",
        labels={"commit": COMMIT[:12], "modules": MODULES[:12], "template": SHA[:12], "source": "scheduler"},
    )

    def get_pipeline_job(request, **_):
        sent.append(request)
        if request.name != JOB:
            raise exceptions.NotFound(f"{request.name} not found")
        return job

    monkeypatch.setattr(PipelineServiceRestTransport, "get_pipeline_job", property(lambda _: get_pipeline_job))
    return sent


def publish_record(gcs, **record):
    blob = gcs.bucket("penguins-dev-artifacts").blob(f"templates/{SHA}/lineage.json")
    blob.upload_from_string(json.dumps({"published_at": "2026-12-01T00:00:00+00:00", **record}))
    return blob


def test_the_job_gives_the_run_id_and_the_submitters_lineage(job_service, gcs):
    blob = publish_record(gcs, commit=COMMIT, modules_sha256=MODULES, image=COMPILED["image"])
    try:
        run_id, labels = run_lineage(JOB, COMPILED, credentials=AnonymousCredentials(), storage_client=gcs)
    finally:
        blob.delete()
    (request,) = job_service
    assert request.name == JOB
    assert run_id == "penguins-dev-scheduler-0123456789abcdef"
    # Full values where the published record extends the labels; the image is the compile's (what ran).
    assert labels == {
        "commit": COMMIT,
        "modules": MODULES,
        "template": SHA,
        "source": "scheduler",
        "image": COMPILED["image"],
    }


def test_without_a_lineage_record_the_labels_are_the_lineage(job_service, gcs):
    _, labels = run_lineage(JOB, COMPILED, credentials=AnonymousCredentials(), storage_client=gcs)
    assert labels == {**COMPILED, "commit": COMMIT[:12], "template": SHA, "source": "scheduler"}


def test_a_record_that_disagrees_with_the_job_is_not_used(job_service, gcs):
    blob = publish_record(gcs, commit="f" * 40, modules_sha256=MODULES, image=None)
    try:
        _, labels = run_lineage(JOB, COMPILED, credentials=AnonymousCredentials(), storage_client=gcs)
    finally:
        blob.delete()
    assert labels["commit"] == COMMIT[:12] and labels["modules"] == MODULES


def test_an_unreadable_job_fails_the_push_naming_it(job_service, gcs):
    other = JOB.replace("0123456789abcdef", "ffffffffffffffff")
    with pytest.raises(RegistryError, match=f"reading the run's PipelineJob {other}"):
        run_lineage(other, COMPILED, credentials=AnonymousCredentials(), storage_client=gcs)


def test_a_name_that_is_not_a_job_is_refused():
    with pytest.raises(RegistryError, match="not a PipelineJob resource name"):
        run_lineage("penguins-dev-run", COMPILED)


def test_the_executor_reads_the_job_on_vertex_and_the_context_elsewhere(monkeypatch):
    from components.registry import vertex_job

    monkeypatch.setattr(
        vertex_job, "run_lineage", lambda job, labels: (job.rsplit("/", 1)[1], {**labels, "source": "ci"})
    )
    executor = Executor()
    compiled = {"labels": json.dumps(COMPILED)}
    assert executor._run_lineage({**compiled, "pipeline_job": JOB}) == (
        JOB.rsplit("/", 1)[1],
        {**COMPILED, "source": "ci"},
    )
    # A placeholder Vertex did not fill in, or a local run: the compiled labels, the context's run id.
    assert executor._run_lineage({**compiled, "pipeline_job": JOB_PLACEHOLDER}) == ("unknown", COMPILED)
    assert executor._run_lineage({**compiled, "pipeline_job": None}) == ("unknown", COMPILED)
