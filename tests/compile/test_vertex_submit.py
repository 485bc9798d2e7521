"""The vertex backend at the request level: the exact CreatePipelineJob request, with anonymous credentials."""

import hashlib
import json

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials

from contracts.config import load_environment
from contracts.environment_parameters import environment_parameters
from contracts.run_request import BackendUnavailableError, Baseline, RunRequest, SubmissionError
from release import publish, submit
from release.publishing.store import LocalStore
from release.vertex import VertexSubmitter
from tests.compile.test_vertex_compile import compiled  # noqa: F401 - the module-scoped compile fixture.

CHAMPION = Baseline("4", "gs://penguins-dev-registry/penguins-dev-penguins-model/" + "c" * 64)
COMMIT = "b" * 40

REQUEST = RunRequest(
    job_id="penguins-dev-msg-1234-0123456789abcdef",
    parameters={"num_epochs": 5, "learning_rate": 0.02},
    labels={"commit": "abc123", "modules": "8502dcf44e3d", "source": "pubsub", "spans": "1"},
    enable_caching=False,
)


@pytest.fixture
def calls(monkeypatch):
    """Capture create_pipeline_job calls instead of sending them; stub the bucket look-up submit does."""
    from google.cloud.aiplatform import pipeline_jobs

    sent = []
    monkeypatch.setattr(
        pipeline_jobs.gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **_: None
    )
    return sent


def submitter(compiled_spec, env="dev"):
    config = load_environment(env, "penguins")
    return VertexSubmitter(
        config, str(compiled_spec.spec_path), credentials=AnonymousCredentials(), baseline=lambda: CHAMPION
    )


def patch_create(monkeypatch, job_sink, calls, result=None, error=None):
    from google.cloud.aiplatform import PipelineJob

    original = PipelineJob.submit

    def submit(job, **kwargs):
        def create(**request):
            calls.append(request)
            if error:
                raise error
            # What the service answers: the job as created, now with its resource name.
            job_proto = request["pipeline_job"]
            created = type(job_proto).deserialize(type(job_proto).serialize(job_proto))
            created.name = f"{request['parent']}/pipelineJobs/{request['pipeline_job_id']}"
            return created

        monkeypatch.setattr(job.api_client, "create_pipeline_job", create)
        job_sink.append(job)
        return original(job, **kwargs)

    monkeypatch.setattr(PipelineJob, "submit", submit)


def test_create_request_carries_everything(compiled, calls, monkeypatch):  # noqa: F811
    jobs = []
    patch_create(monkeypatch, jobs, calls)
    result = submitter(compiled[0]).submit(REQUEST)
    assert result.created and result.backend == "vertex"
    assert result.location.endswith(f"/runs/{REQUEST.job_id}?project=my-dev-project")
    (request,) = calls
    assert request["parent"] == "projects/my-dev-project/locations/europe-west4"
    assert request["pipeline_job_id"] == REQUEST.job_id
    job = request["pipeline_job"]
    assert job.display_name == "penguins-dev"
    assert job.service_account == "penguins-dev-pipeline@my-dev-project.iam.gserviceaccount.com"
    assert job.network == ""
    labels = {k: v for k, v in job.labels.items() if not k.startswith("vertex")}
    # The request's, and what the submitter resolved: where the template came from, which champion judges it.
    assert labels == {**REQUEST.labels, "template_source": "explicit", "baseline": "4"}
    assert job.runtime_config.gcs_output_directory == "gs://penguins-dev-pipeline-root/penguins-dev"
    # Pipeline spec schema 2.0 (TFX): typed values, an int for num_epochs and a double for learning_rate.
    params = job.runtime_config.parameters
    # The request's two, the template's defaults for the spans it left out, and the environment's values.
    expected = environment_parameters(load_environment("dev", "penguins"), baseline_model=CHAMPION.uri)
    assert set(params) == {"num_epochs", "learning_rate", "span_start", "span_end", *expected}
    assert params["span_start"].int_value == 0 and params["span_end"].int_value == 0
    assert params["num_epochs"].int_value == 5
    assert params["learning_rate"].double_value == 0.02
    assert params["baseline_model"].string_value == CHAMPION.uri
    assert params["gate_bound"].double_value == 0.9 and params["window_spans"].int_value == 3
    assert params["dataflow_project"].string_value == "my-dev-project"
    assert job.pipeline_spec["pipelineInfo"]["name"] == "penguins"
    # Caching off is written into every task of the spec.
    tasks = job.pipeline_spec["root"]["dag"]["tasks"]
    assert all(not task.get("cachingOptions", {}).get("enableCache", False) for task in tasks.values())


def test_already_exists_is_success(compiled, calls, monkeypatch):  # noqa: F811
    patch_create(monkeypatch, [], calls, error=exceptions.AlreadyExists("job exists"))
    result = submitter(compiled[0]).submit(REQUEST)
    assert result.created is False
    assert len(calls) == 1


def test_unavailable_backend_is_transient(compiled, calls, monkeypatch):  # noqa: F811
    patch_create(monkeypatch, [], calls, error=exceptions.ServiceUnavailable("try later"))
    with pytest.raises(BackendUnavailableError, match=REQUEST.job_id):
        submitter(compiled[0]).submit(REQUEST)


def test_missing_template_is_a_clear_error(tmp_path):
    vertex = VertexSubmitter(
        load_environment("dev", "penguins"),
        str(tmp_path / "nope.json"),
        credentials=AnonymousCredentials(),
        baseline=Baseline,
    )
    with pytest.raises(SubmissionError, match="not found"):
        vertex.submit(REQUEST)


@pytest.mark.parametrize("uri", ["europe-west4-kfp.pkg.dev/p/r/penguins/latest", "gs://b/templates/x:latest"])
def test_mutable_template_references_are_refused(uri):
    with pytest.raises(SubmissionError, match="immutable"):
        VertexSubmitter(load_environment("dev", "penguins"), uri)


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"num_epochs": 0, "learning_rate": 0.1}, "num_epochs"),
        ({"num_epochs": 10**9, "learning_rate": 0.1}, "num_epochs"),
        ({"num_epochs": 3, "learning_rate": 0}, "learning_rate"),
        ({"num_epochs": 3, "learning_rate": 1.5}, "learning_rate"),
        ({"num_epochs": 3, "learning_rate": float("nan")}, "learning_rate"),
        ({"num_epochs": "3", "learning_rate": 0.1}, "num_epochs"),
        ({"num_epochs": 3, "learning_rate": 0.1, "batch": 4}, "batch"),
    ],
)
def test_bad_parameters_are_refused_before_any_backend(parameters, field):
    with pytest.raises(SubmissionError, match=field):
        RunRequest(job_id="penguins-dev-x", parameters=parameters)


def test_bad_job_ids_and_labels_are_refused():
    with pytest.raises(SubmissionError, match="job_id"):
        RunRequest(job_id="Penguins_Run", parameters={})
    with pytest.raises(SubmissionError, match="label"):
        RunRequest(job_id="penguins-x", parameters={}, labels={"Commit": "abc"})


def test_the_job_is_the_contracts_construction(compiled, monkeypatch):  # noqa: F811
    """CI's submitter and the trigger function build a PipelineJob from the same pipeline_job_arguments."""
    from google.cloud import aiplatform

    from contracts.run_request import pipeline_job_arguments

    built = []
    monkeypatch.setattr(aiplatform, "PipelineJob", lambda **kwargs: built.append(kwargs))
    config = load_environment("dev", "penguins")
    credentials = AnonymousCredentials()
    VertexSubmitter(config, str(compiled[0].spec_path), credentials=credentials).build_job(REQUEST, CHAMPION)
    expected = pipeline_job_arguments(
        REQUEST,
        pipeline_name="penguins-dev",
        template=str(compiled[0].spec_path),
        pipeline_root=config.gcp.pipeline_root("penguins-dev"),
        project="my-dev-project",
        location="europe-west4",
        environment=environment_parameters(config, baseline_model=CHAMPION.uri),
    )
    assert built == [{**expected, "credentials": credentials}]
    assert expected["pipeline_root"] == "gs://penguins-dev-pipeline-root/penguins-dev"


def test_the_push_reads_back_the_lineage_the_submit_sent(compiled, calls, monkeypatch):  # noqa: F811
    """The job CI creates, served back by GetPipelineJob, gives the push the run id and the submit's labels."""
    from google.cloud.aiplatform_v1.services.pipeline_service.transports.rest import PipelineServiceRestTransport

    from components.registry.vertex_job import run_lineage

    jobs = []
    patch_create(monkeypatch, jobs, calls)
    submitter(compiled[0]).submit(REQUEST)
    (request,) = calls
    created = request["pipeline_job"]
    created.name = f"projects/123456789012/locations/europe-west4/pipelineJobs/{request['pipeline_job_id']}"

    def get_pipeline_job(request, **_):
        assert request.name == created.name
        return created

    # The transport keys its wrapped methods by these callables: the property returns the same one each time.
    monkeypatch.setattr(PipelineServiceRestTransport, "get_pipeline_job", property(lambda _: get_pipeline_job))
    run_id, labels = run_lineage(created.name, {"image": "img@sha256:" + "0" * 64}, credentials=AnonymousCredentials())
    assert run_id == REQUEST.job_id
    assert (labels["commit"], labels["source"]) == ("abc123", "pubsub")


def _parameters(job):
    """The job's runtime parameters as plain values (schema 2.0 templates: typed `parameters`)."""
    params = job.runtime_config.parameters
    return {name: getattr(params[name], params[name]._pb.WhichOneof("value")) for name in params}


def _published(compiled_spec, store):
    published = publish.publish_compiled(store, compiled_spec.spec_path.parent, commit_sha=COMMIT, branch="main")
    return published["template"]


def test_dev_and_prod_submit_the_byte_identical_template_with_their_own_parameters(
    compiled,  # noqa: F811
    calls,
    monkeypatch,
    tmp_path,
    capsys,
):
    """What prod runs is what dev tested: both CreatePipelineJob requests carry the one template dev published
    (prod finds it in dev's release store), and differ only in the environment's values and the job's fields."""
    store = LocalStore(tmp_path / "dev-artifacts")
    template = _published(compiled[0], store)
    stores = []
    monkeypatch.setattr("release.publishing.store.store_for", lambda uri, client=None: stores.append(uri) or store)
    monkeypatch.setattr(VertexSubmitter, "_champion", lambda self: CHAMPION)
    # Application Default Credentials, as a build step has them: anonymous here (nothing is sent).
    import google.auth
    from google.cloud.aiplatform import initializer

    monkeypatch.setattr(google.auth, "default", lambda *args, **kwargs: (AnonymousCredentials(), "my-dev-project"))
    monkeypatch.setattr(initializer.global_config, "_credentials", None)
    jobs = []
    patch_create(monkeypatch, jobs, calls)
    for env in ("dev", "prod"):
        argv = [
            "--env",
            env,
            "--pipeline",
            "penguins",
            "--template",
            f"commit:{COMMIT}",
            "--trigger-id",
            "release-1",
            "--source",
            "ci",
        ]
        assert submit.main([*argv, "--result-file", str(tmp_path / f"{env}.json")]) == 0
    # Both resolved the commit in dev's artifacts bucket: prod has gcp.releases_from: dev.
    assert stores == ["gs://penguins-dev-artifacts", "gs://penguins-dev-artifacts"]
    dev, prod = (request["pipeline_job"] for request in calls)
    assert [request["parent"] for request in calls] == [
        "projects/my-dev-project/locations/europe-west4",
        "projects/my-prod-project/locations/europe-west4",
    ]
    # The same template: the bytes dev published, by their sha256, as both jobs carry it.
    sha = template.split("/templates/")[1].split("/")[0]
    assert (
        hashlib.sha256((tmp_path / "dev-artifacts" / "templates" / sha / "pipeline.json").read_bytes()).hexdigest()
        == sha
    )
    assert json.loads(type(dev).to_json(dev))["pipelineSpec"] == json.loads(type(prod).to_json(prod))["pipelineSpec"]
    for env, job in (("dev", dev), ("prod", prod)):
        assert job.labels["template"] == sha[:12] and job.labels["template_source"] == "explicit"
        assert job.labels["commit"] == COMMIT[:12]  # the template's commit (its lineage record), not the checkout's
        assert job.labels["dirty"] == "false"  # published with its commit: that commit's code, whatever the checkout
        assert job.service_account == f"penguins-{env}-pipeline@my-{env}-project.iam.gserviceaccount.com"
        assert job.runtime_config.gcs_output_directory == f"gs://penguins-{env}-pipeline-root/penguins-{env}"
        result = json.loads((tmp_path / f"{env}.json").read_text())
        assert (result["template"], result["template_sha256"], result["baseline"]) == (template, sha, "4")
        assert result["dirty"] is False  # what the pointer step copies into the pointer
    # The parameters differ exactly where the environments do.
    values = {env: _parameters(job) for env, job in (("dev", dev), ("prod", prod))}
    differ = {name for name in values["dev"] if values["dev"][name] != values["prod"][name]}
    assert differ == {
        "data_root", "gate_bound", "gate_max_regression", "registry", "training_config", "dataflow_project",
        "dataflow_temp_location", "dataflow_service_account", "dataflow_max_workers", "dataflow_subnetwork",
    }  # fmt: skip
    assert values["prod"]["gate_bound"] == 0.95 and values["prod"]["registry"].find("penguins-prod-penguins-model") > 0
