"""The lineage of a Vertex run, read by the registry push from the run's own PipelineJob.

The commit, template and source are what the submitter knew (CI's submit, the trigger function for events
and schedules, anyone with the console): all of them label the PipelineJob (contracts/run_request.py), but
none of it is in the compiled template. So the push gets its job's resource name through KFP's
`{{$.pipeline_job_resource_name}}` placeholder, which Vertex fills in at run time, and reads the job back:
its id is the run id, its labels carry commit and source, its template URI the full template sha256, and
the lineage record published beside the template (lineage.json) the full commit. Whoever started the run,
the version gets the same lineage, and nothing has to be passed as a pipeline parameter.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.google_apis import TRANSPORT, client_options, storage_client_options, vertex_host
from contracts.registry import RegistryError
from contracts.run_request import lineage_location, read_lineage_record, template_sha256

# KFP's PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER: projects/<number>/locations/<region>/pipelineJobs/<job id>.
JOB_PLACEHOLDER = "{{$.pipeline_job_resource_name}}"
_JOB = re.compile(r"^projects/[^/]+/locations/(?P<region>[a-z0-9-]+)/pipelineJobs/(?P<job_id>[a-z0-9-]+)$")
# The submitter's labels that become lineage (the compiled ones, modules and image, come from the compile);
# `dirty`: the submitter's working tree had uncommitted changes.
_JOB_LABELS = ("commit", "dirty", "template", "source")


def is_job_name(value: str | None) -> bool:
    return bool(value and _JOB.match(value))


def run_lineage(
    job_name: str, compiled: dict[str, str], *, credentials: Any = None, storage_client: Any = None
) -> tuple[str, dict[str, str]]:
    """(run id, lineage labels) of the run `job_name`, over the compile-time `compiled` labels (modules, image)."""
    match = _JOB.match(job_name)
    if not match:
        raise RegistryError(f"{job_name!r} is not a PipelineJob resource name (projects/P/locations/R/pipelineJobs/ID)")
    job = _get_job(job_name, match["region"], credentials)
    labels = dict(compiled)
    labels.update({key: job.labels[key] for key in _JOB_LABELS if job.labels.get(key)})
    template = job.template_uri
    if template_sha256(template):
        labels["template"] = template_sha256(template)  # type: ignore[assignment]
    if template.startswith("gs://"):
        labels.update(_published(template, labels, storage_client, credentials))
    return match["job_id"], labels


def _get_job(job_name: str, region: str, credentials: Any) -> Any:
    from google.api_core import exceptions
    from google.cloud.aiplatform_v1 import PipelineServiceClient

    client = PipelineServiceClient(
        credentials=credentials, transport=TRANSPORT, client_options=client_options(vertex_host(region))
    )
    try:
        return client.get_pipeline_job(name=job_name)
    except exceptions.GoogleAPICallError as err:
        raise RegistryError(f"reading the run's PipelineJob {job_name} for its lineage failed: {err}") from err


def _published(template: str, labels: dict[str, str], storage_client: Any, credentials: Any) -> dict[str, str]:
    """Full values from the template's lineage record, where they extend the shortened labels."""
    from google.api_core import exceptions
    from google.cloud import storage

    where = lineage_location(template)
    client = storage_client or storage.Client(credentials=credentials, client_options=storage_client_options())
    try:
        data = storage.Blob.from_string(where, client=client).download_as_bytes()
    except exceptions.NotFound:
        return {}  # A template published before lineage records: the labels are what is known.
    try:
        record = read_lineage_record(data, where, template)
    except ValueError as err:
        raise RegistryError(str(err)) from err
    full = {"commit": record.commit, "modules": record.modules_sha256}
    # Only where the record agrees with what the run says (a shortened label is a prefix of the full value).
    return {key: value for key, value in full.items() if value and value.startswith(labels.get(key) or value)}
