"""RegistryPush's real executor on Vertex, at the request level: every Google API call it makes goes through
the one seam (GOOGLE_APIS_BASE_URL) to a stand-in that records it: Cloud Storage (the run's artifacts, the
registry bucket) and Pub/Sub on loopback, the ModelService and the run's PipelineJob under their clients.

What it must send: the model's objects rewritten create-only into gs://<prefix>-registry/<model>/<sha256>/
Format-Serving/, one UploadModel whose artifactUri (and recorded uri) is that copy, and one publish of
{version, model, run} to <prefix>-<pipeline>-model-registered; a rerun sends no copy and no upload, and announces again.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1.services.pipeline_service.transports.rest import PipelineServiceRestTransport
from google.cloud.aiplatform_v1.types import pipeline_job
from tfx.types import standard_artifacts

from components.registry.content import local_sha256
from components.registry_push import Executor
from contracts.config import load_environment
from contracts.registry import RegistryError, RegistryTarget, registry_target
from tests.compile.vertex_fakes import FakeModelService
from tests.gcs_fake import FakeGcs, serving
from tests.pubsub_fake import FakePubsub

JOB = "projects/123456789012/locations/europe-west4/pipelineJobs/penguins-dev-ci-0123456789abcdef"
RUN_ID = "penguins-dev-ci-0123456789abcdef"
TRAINER = "penguins-dev-pipeline-root/penguins/123456789012/penguins-dev-ci/Trainer_123/model"
IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "0" * 64
MODEL_FILES = {"saved_model.pb": b"graph" * 40, "variables/variables.index": b"index", "assets/vocab": b"a\nb\n"}
MODEL = "projects/my-dev-project/locations/europe-west4/models/penguins-dev-penguins-model"
TOPIC = "projects/my-dev-project/topics/penguins-dev-penguins-model-registered"


def metrics_file() -> bytes:
    """A TFMA metrics output as the Evaluator writes it: overall candidate, baseline and one per-class metric."""
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as m

    def value(name, number, model_name="candidate", class_id=None):
        key = m.MetricKey(name=name, model_name=model_name)
        if class_id is not None:
            key.sub_key.class_id.value = class_id
        return m.MetricsForSlice.MetricKeyAndValue(key=key, value=m.MetricValue(double_value={"value": number}))

    record = m.MetricsForSlice(
        slice_key=m.SliceKey(),
        metric_keys_and_values=[
            value("sparse_categorical_accuracy", 0.97),
            value("sparse_categorical_accuracy", 0.95, model_name="baseline"),
            value("precision", 0.5, class_id=2),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            writer.write(record.SerializeToString())
        return path.read_bytes()


@pytest.fixture
def cloud(monkeypatch):
    """The stand-in: the run's artifacts in its GCS, the dev topic, the ModelService and the PipelineJob."""
    import google.auth
    from google.cloud.aiplatform import initializer

    gcs = FakeGcs()
    for rel, data in MODEL_FILES.items():
        gcs.put("penguins-dev-pipeline-root", f"{TRAINER.partition('/')[2]}/Format-Serving/{rel}", data)
    for span in (1, 2):
        gcs.put("penguins-dev-data", f"penguins/span-{span}/data.csv", f"span {span}\n".encode())
    gcs.put("penguins-dev-pipeline-root", "run/HyperparametersGen/hyperparameters/5/hyperparameters.json",
            json.dumps({"space": [], "values": {"num_epochs": 20, "learning_rate": 0.01}}).encode())  # fmt: skip
    gcs.put("penguins-dev-pipeline-root", "run/Evaluator/evaluation/9/metrics-00000-of-00001.tfrecord", metrics_file())
    pubsub = FakePubsub(topics={TOPIC})
    credentials = AnonymousCredentials()
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (credentials, "my-dev-project"))
    monkeypatch.setattr(initializer.global_config, "_credentials", credentials)
    models = FakeModelService().install(monkeypatch)
    job = pipeline_job.PipelineJob(name=JOB, template_uri="https://example.com/t.json", labels={"source": "ci"})

    def get_pipeline_job(request, **_):
        assert request.name == JOB, request.name
        return job

    # The transport wraps its methods once, keyed by the callable: the property returns the same one each time.
    monkeypatch.setattr(PipelineServiceRestTransport, "get_pipeline_job", property(lambda _: get_pipeline_job))
    with serving(gcs, others={"pubsub.googleapis.com": pubsub.answer}) as base:
        monkeypatch.setenv("GOOGLE_APIS_BASE_URL", base)
        yield gcs, pubsub, models


def push(target: RegistryTarget | None = None):
    """Run the executor once, as the Vertex step does; the PushedModel it wrote."""

    def artifact(kind, uri, **properties):
        item = kind()
        item.uri = uri
        for name, value in properties.items():
            (item.set_int_custom_property if isinstance(value, int) else item.set_string_custom_property)(name, value)
        return [item]

    run = "gs://penguins-dev-pipeline-root/run"
    inputs = {
        "model": artifact(standard_artifacts.Model, f"gs://{TRAINER}"),
        "model_blessing": artifact(standard_artifacts.ModelBlessing, f"{run}/Evaluator/blessing/9", blessed=1),
        "evaluation": artifact(standard_artifacts.ModelEvaluation, f"{run}/Evaluator/evaluation/9"),
        "examples": artifact(standard_artifacts.Examples, f"{run}/WindowExampleGen/examples/2", spans="1,2"),
        "hyperparameters": artifact(standard_artifacts.HyperParameters, f"{run}/HyperparametersGen/hyperparameters/5"),
    }
    outputs = {"pushed_model": artifact(standard_artifacts.PushedModel, f"{run}/RegistryPush/pushed_model/11")}
    target = target or registry_target(load_environment("dev", "penguins"))
    Executor().Do(
        inputs,
        outputs,
        {
            "registry": target.model_dump_json(),
            "labels": json.dumps({"modules": "8502dcf44e3d", "image": IMAGE}),
            "data_root": "gs://penguins-dev-data/penguins",
            "pipeline_job": JOB,
        },
    )
    return outputs["pushed_model"][0]


def digest_of_model(tmp_path) -> str:
    for rel, data in MODEL_FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return local_sha256(tmp_path)


def test_the_target_names_the_registry_bucket_and_the_topic():
    # Each pipeline announces on its own topic (its autopromote trigger listens there).
    diabetes = registry_target(load_environment("dev", "diabetes"))
    assert diabetes.topic == "projects/my-dev-project/topics/penguins-dev-diabetes-model-registered"
    target = registry_target(load_environment("dev", "penguins"))
    assert target.store_uri == "gs://penguins-dev-registry/penguins-dev-penguins-model"
    assert target.topic == TOPIC
    assert (
        registry_target(load_environment("prod", "penguins")).topic
        == "projects/my-prod-project/topics/penguins-prod-penguins-model-registered"
    )


def test_a_push_copies_to_the_registry_bucket_uploads_there_and_announces(cloud, tmp_path):
    gcs, pubsub, models = cloud
    pushed = push()
    sha = digest_of_model(tmp_path)
    copy = f"penguins-dev-penguins-model/{sha}/Format-Serving"
    # Every file rewritten server-side, create-only, pinned to the generation that was hashed.
    rewrites = gcs.calls("POST", "/rewriteTo/")
    assert sorted(r.path for r in rewrites) == sorted(
        f"/storage/v1/b/penguins-dev-pipeline-root/o/{TRAINER.partition('/')[2]}/Format-Serving/{rel}"
        f"/rewriteTo/b/penguins-dev-registry/o/{copy}/{rel}"
        for rel in MODEL_FILES
    )
    assert all(r.query["ifGenerationMatch"] == "0" and r.query.get("ifSourceGenerationMatch") for r in rewrites), [
        r.query for r in rewrites
    ]
    assert gcs.names("penguins-dev-registry") == sorted(f"{copy}/{rel}" for rel in MODEL_FILES)
    # One upload: the Model's artifactUri and the version's uri are the registry's copy.
    (upload,) = [r for kind, r in models.requests if kind == "upload"]
    assert (
        upload.parent == "projects/my-dev-project/locations/europe-west4"
        and upload.model_id == "penguins-dev-penguins-model"
    )
    assert upload.model.artifact_uri == f"gs://penguins-dev-registry/{copy}"
    record = json.loads(upload.model.version_description)
    assert record["uri"] == f"gs://penguins-dev-registry/{copy}" and record["content_sha256"] == sha
    lineage = record["lineage"]
    assert lineage["pipeline_run_id"] == RUN_ID and lineage["source"] == "ci" and lineage["image"] == IMAGE
    assert [s["number"] for s in lineage["spans"]] == [1, 2] and lineage["parameters"]["num_epochs"] == 20
    # Overall metrics only (the per-class precision is not the model's accuracy), read from gs:// for TFMA.
    assert lineage["metrics"] == {"sparse_categorical_accuracy": 0.97}
    assert lineage["baseline_metrics"] == {"sparse_categorical_accuracy": 0.95}
    # Announced, never promoted: one attributes-only message, no alias moved.
    assert pubsub.published == [(TOPIC, {"attributes": {"version": "1", "model": MODEL, "run": RUN_ID}})]
    assert not [kind for kind, _ in models.requests if kind == "merge"]
    assert pushed.get_string_custom_property("pushed_version") == "1"
    assert pushed.get_int_custom_property("registered") == 1
    assert pushed.get_string_custom_property("pushed_destination") == f"gs://penguins-dev-registry/{copy}"
    assert pushed.get_string_custom_property("announced") == "1"


def test_a_rerun_copies_and_uploads_nothing_and_announces_again(cloud):
    gcs, pubsub, models = cloud
    push()
    rewrites = len(gcs.calls("POST", "/rewriteTo/"))
    pushed = push()
    assert len(gcs.calls("POST", "/rewriteTo/")) == rewrites
    assert sum(kind == "upload" for kind, _ in models.requests) == 1
    assert (
        pushed.get_int_custom_property("registered") == 0 and pushed.get_string_custom_property("pushed_version") == "1"
    )
    assert [m["attributes"]["version"] for _, m in pubsub.published] == ["1", "1"]


def test_a_push_that_stopped_after_copying_finishes_on_the_rerun(cloud):
    gcs, pubsub, models = cloud
    models.fail_upload = exceptions.ServiceUnavailable("Vertex is down")
    with pytest.raises(exceptions.ServiceUnavailable):
        push()
    assert gcs.names("penguins-dev-registry") and not models.versions and not pubsub.published
    copies = {n: gcs.objects[("penguins-dev-registry", n)][0] for n in gcs.names("penguins-dev-registry")}
    pushed = push()
    # The copies made before the stop are kept (their create-only rewrites answered 412), then the upload.
    assert {n: gcs.objects[("penguins-dev-registry", n)][0] for n in gcs.names("penguins-dev-registry")} == copies
    assert pushed.get_int_custom_property("registered") == 1 and len(pubsub.published) == 1


def test_a_registry_copy_with_other_bytes_is_refused_before_any_upload(cloud, tmp_path):
    gcs, pubsub, models = cloud
    sha = digest_of_model(tmp_path)
    gcs.put("penguins-dev-registry", f"penguins-dev-penguins-model/{sha}/Format-Serving/saved_model.pb", b"tampered")
    with pytest.raises(RegistryError, match=r"does not match the model \(differing or missing: \['saved_model.pb'\]"):
        push()
    assert not models.versions and not pubsub.published


def test_large_objects_are_rewritten_in_several_calls(cloud):
    gcs, _, models = cloud
    gcs.rewrite_chunk = 64
    push()
    graph = [r for r in gcs.calls("POST", "/rewriteTo/") if r.path.endswith("/saved_model.pb")]
    assert len(graph) == 4 and [("rewriteToken" in r.query) for r in graph] == [False, True, True, True]
    sha = models.versions[0].artifact_uri.split("/")[-2]
    assert (
        gcs.objects[("penguins-dev-registry", f"penguins-dev-penguins-model/{sha}/Format-Serving/saved_model.pb")][1]
        == (MODEL_FILES["saved_model.pb"])
    )


def test_a_failed_announcement_fails_the_step_and_the_version_stays_registered(cloud):
    _, pubsub, models = cloud
    pubsub.fail_next = 403
    with pytest.raises(RegistryError, match="rerun the push to announce it again"):
        push()
    assert len(models.versions) == 1 and not pubsub.published
    push()
    assert [m["attributes"]["version"] for _, m in pubsub.published] == ["1"]
