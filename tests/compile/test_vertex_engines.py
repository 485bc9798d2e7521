"""Request level: the one compiled template runs the Trainer as a Vertex AI custom job and the Beam components on
Dataflow, with each environment's settings. Each test fills the template in with an environment's runtime
parameter values as Vertex does (the task's parameters, the args' placeholders), turns that into the request the
real client would send (TFX's Vertex job client, Beam's Dataflow environment builder) and checks it, offline."""

import json
import re

import pytest

from components.vertex_trainer import with_worker_image
from contracts.config import load_environment
from contracts.environment_parameters import environment_parameters
from pipelines import kubeflow_v2_runner
from pipelines.vertex_compile import compile_pipeline

IMAGE = kubeflow_v2_runner.GOLDEN_IMAGE
BEAM_COMPONENTS = ("WindowExampleGen", "StatisticsGen", "Transform", "Evaluator")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    result = compile_pipeline(
        load_environment("dev", "penguins"), image=IMAGE, output_dir=tmp_path_factory.mktemp("dev")
    )
    return json.loads(result.spec_path.read_text())


def _executor(spec, component):
    return spec["pipelineSpec"]["deploymentSpec"]["executors"][f"{component}_executor"]["container"]


def _task_value(spec, task, parameter, env):
    """What Vertex gives `task` for `parameter`: its constant, or the run's value of the pipeline parameter."""
    given = spec["pipelineSpec"]["root"]["dag"]["tasks"][task]["inputs"]["parameters"][parameter]
    if "componentInputParameter" in given:
        return environment_parameters(load_environment(env, "penguins"), baseline_model="")[
            given["componentInputParameter"]
        ]
    return given["runtimeValue"]["constantValue"]["stringValue"]


def _trainer_custom_config(spec, env):
    """The custom_config the Trainer's executor hands TFX (components/vertex_trainer.py): the run's, with the image."""
    custom = json.loads(_task_value(spec, "Trainer", "custom_config", env))
    return with_worker_image(custom, _task_value(spec, "Trainer", "worker_image", env))


class _RecordingJobService:
    """Stands in for the Vertex JobServiceClient: records the create_custom_job request."""

    def __init__(self):
        self.requests = []

    def create_custom_job(self, parent, custom_job):
        self.requests.append((parent, custom_job))
        return type("Response", (), {"name": f"{parent}/customJobs/1"})()


def _custom_job_request(spec, env):
    """What the Vertex Trainer's executor sends, built by TFX's own client from the run's custom_config."""
    from tfx.extensions.google_cloud_ai_platform import training_clients
    from tfx.extensions.google_cloud_ai_platform.trainer import executor

    custom = _trainer_custom_config(spec, env)
    assert custom[executor.ENABLE_VERTEX_KEY] is True
    job_args = dict(custom[executor.TRAINING_ARGS_KEY])
    project = job_args.pop("project")  # As runner.start_cloud_training does.

    class Client(training_clients.VertexJobClient):
        def create_client(self):
            self._client = _RecordingJobService()

    client = Client(custom[executor.VERTEX_REGION_KEY])
    job = client.create_training_job(
        {}, {}, {}, "tfx.components.trainer.executor.GenericExecutor", job_args, None, None
    )
    client.launch_job(project, job)
    return client._client.requests


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_trainer_is_a_vertex_custom_job_of_the_image_as_the_pipeline_account(spec, env):
    from google.cloud.aiplatform_v1.types import CustomJob

    assert "components.vertex_trainer.Executor" in _executor(spec, "Trainer")["args"]
    ((parent, job),) = _custom_job_request(spec, env)
    assert parent == f"projects/my-{env}-project/locations/europe-west4"
    request = CustomJob(**job)  # The API's own message: a misspelt field fails here.
    (pool,) = request.job_spec.worker_pool_specs
    assert pool.machine_spec.machine_type == "n1-standard-4"
    assert pool.replica_count == 1
    assert pool.container_spec.image_uri == IMAGE and "@sha256:" in pool.container_spec.image_uri
    assert list(pool.container_spec.command)[:3] == ["python", "-m", "tfx.scripts.run_executor"]
    assert request.job_spec.service_account == load_environment(env, "penguins").gcp.pipeline_service_account


_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


def _beam_args(spec, component, env):
    """The component's Beam args as its container gets them in a run of `env`: placeholders filled in."""
    args = _executor(spec, component)["args"]
    values = environment_parameters(load_environment(env, "penguins"), baseline_model="")
    return [_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), arg) for arg in args[args.index("{{$}}") + 1 :]]


@pytest.mark.parametrize(("env", "workers"), [("dev", 4), ("prod", 20)])
def test_the_beam_components_get_dataflow_with_the_image_and_the_worker_account(spec, env, workers):
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions
    from apache_beam.runners.dataflow.internal import apiclient

    gcp = load_environment(env, "penguins").gcp
    for component in BEAM_COMPONENTS:
        options = PipelineOptions(_beam_args(spec, component, env))
        assert options.view_as(StandardOptions).runner == "DataflowRunner", component
        assert options.view_as(GoogleCloudOptions).region == "europe-west4"
        assert options.view_as(GoogleCloudOptions).project == gcp.project
        # The Environment of the Dataflow job request, built by Beam's own Dataflow client.
        environment = apiclient.Environment([], options, "2.59.0", "gs://unused/pipeline.pb").proto
        assert environment.serviceAccountEmail == gcp.dataflow_service_account
        assert environment.tempStoragePrefix.startswith(f"storage.googleapis.com/penguins-{env}-pipeline-root/")
        assert "use_runner_v2" in environment.experiments
        (pool,) = environment.workerPools
        assert pool.workerHarnessContainerImage == IMAGE
        assert pool.machineType == "n1-standard-4" and pool.autoscalingSettings.maxNumWorkers == workers
        assert pool.subnetwork == f"regions/europe-west4/subnetworks/penguins-{env}-dataflow"
        assert pool.network is None  # an empty dataflow_network leaves Beam's option unset
        assert pool.ipConfiguration.name == "WORKER_IP_PRIVATE"


def test_tfx_builds_no_sdist_for_the_dataflow_workers(spec):
    """With an SDK container set, TFX passes the args through instead of building a TFX sdist per component."""
    from tfx.utils import dependency_utils

    args = _beam_args(spec, "Transform", "dev")
    assert dependency_utils.make_beam_dependency_flags(args) == args


def test_the_other_steps_carry_no_beam_args(spec):
    for name, executor in spec["pipelineSpec"]["deploymentSpec"]["executors"].items():
        if "container" in executor and name.removesuffix("_executor") not in BEAM_COMPONENTS:
            assert not any(a.startswith("--runner") for a in executor["container"]["args"]), name


def test_runtime_parameters_still_reach_the_trainer(spec):
    """The Trainer takes its hyperparameters from HyperparametersGen, whose inputs are the runtime parameters."""
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    hyper = tasks["HyperparametersGen"]["inputs"]["parameters"]
    assert hyper["num_epochs"]["componentInputParameter"] == "num_epochs"
    assert hyper["learning_rate"]["componentInputParameter"] == "learning_rate"
    assert "hyperparameters" in tasks["Trainer"]["inputs"]["artifacts"]
