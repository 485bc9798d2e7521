"""The release path against the real dev project: publish to its artifacts bucket, submit to Vertex.

Needs credentials for the project in envs/dev.yaml (see conftest.py) and, for submission, LIVE_PIPELINE_IMAGE:
the pipeline image by digest. A submitted job is cancelled at the end of its test.
"""

import os
import time
import uuid

import pytest

from contracts.config import load_environment
from contracts.run_request import RunRequest, job_id_for
from pipelines.sources import pipeline_sources
from release.publishing.modules import publish_modules, resolve_modules
from release.publishing.store import store_for

pytestmark = pytest.mark.live


def test_modules_publish_to_the_dev_bucket_idempotently():
    gcp = load_environment("dev").gcp
    store = store_for(f"{gcp.bucket_uri('artifacts')}/live-tests")
    modules = pipeline_sources("penguins").modules_dir
    first = publish_modules(store, modules)
    again = publish_modules(store, modules)
    assert again.sha256 == first.sha256 and not again.created
    assert resolve_modules(store, first.sha256) == first.uri


def test_compiled_template_runs_on_vertex_and_resubmission_is_idempotent(tmp_path):
    image = os.environ.get("LIVE_PIPELINE_IMAGE")
    if not image:
        pytest.skip("LIVE_PIPELINE_IMAGE (the pipeline image by digest) is not set")
    from pipelines.vertex_compile import compile_pipeline
    from release.publish import publish_compiled
    from release.vertex import VertexSubmitter

    config = load_environment("dev")
    compiled = compile_pipeline(config, image=image, output_dir=tmp_path)
    store = store_for(config.gcp.bucket_uri("artifacts"))
    published = publish_compiled(store, tmp_path, commit_sha=uuid.uuid4().hex + "0" * 8, branch="live-test")
    vertex = VertexSubmitter(config, published["template"])
    request = RunRequest(
        job_id=job_id_for(config.pipeline_name, f"live-{int(time.time())}"),
        parameters={"num_epochs": 1, "learning_rate": 0.01},
        labels={"source": "live-test"},
    )
    first = vertex.submit(request)
    try:
        assert first.created
        assert vertex.submit(request).created is False
        assert compiled.spec_path.exists()
    finally:
        from google.cloud import aiplatform

        aiplatform.PipelineJob.get(request.job_id, project=config.gcp.project, location=config.gcp.region).cancel()
