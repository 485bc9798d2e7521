"""The Vertex compile: golden spec, runtime parameters, content-addressed module references."""

import difflib
import json

import pytest

from contracts.config import load_environment
from pipelines import kubeflow_v2_runner
from pipelines.vertex_compile import compile_pipeline, normalized

IMAGE = kubeflow_v2_runner.GOLDEN_IMAGE


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    result = compile_pipeline(load_environment("dev"), image=IMAGE, output_dir=tmp_path_factory.mktemp("dev"))
    return result, json.loads(result.spec_path.read_text())


def test_matches_the_golden_spec(compiled):
    _, spec = compiled
    actual = json.dumps(normalized(spec), indent=2, sort_keys=True).splitlines()
    golden = kubeflow_v2_runner.GOLDEN.read_text().splitlines()
    diff = "\n".join(difflib.unified_diff(golden, actual, "golden", "compiled", lineterm="", n=2))
    assert not diff, f"compiled spec differs from the golden file; if intended, run `nox -s golden`:\n{diff}"


def test_pipeline_parameters_are_runtime_parameters(compiled):
    _, spec = compiled
    assert spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"] == {
        "learning_rate": {"type": "DOUBLE"},
        "num_epochs": {"type": "INT"},
        "span_end": {"type": "INT"},
        "span_start": {"type": "INT"},
    }


def test_every_parameter_has_a_default_in_the_spec(compiled):
    """Vertex refuses a job that leaves out a parameter without a default: the spec carries one for each."""
    _, spec = compiled
    config = load_environment("dev")
    assert spec["runtimeConfig"]["parameters"] == {
        "learning_rate": {"doubleValue": config.training.learning_rate},
        "num_epochs": {"intValue": str(config.training.num_epochs)},
        "span_end": {"intValue": "0"},
        "span_start": {"intValue": "0"},
    }


def test_a_partial_request_submits_a_valid_job(compiled, tmp_path):
    """Request level: a message with only num_epochs and learning_rate becomes a job that sets all four."""
    from google.auth.credentials import AnonymousCredentials

    from contracts.run_request import RunRequest
    from release.vertex import VertexSubmitter

    result, _ = compiled
    submitter = VertexSubmitter(load_environment("dev"), str(result.spec_path), credentials=AnonymousCredentials())
    job = submitter.build_job(RunRequest("penguins-dev-partial", {"num_epochs": 3, "learning_rate": 0.05}))
    runtime = job._gca_resource.runtime_config
    values = {name: runtime.parameters[name] for name in runtime.parameters}
    assert sorted(values) == ["learning_rate", "num_epochs", "span_end", "span_start"]
    assert values["num_epochs"].int_value == 3 and values["learning_rate"].double_value == 0.05
    assert values["span_start"].int_value == 0 and values["span_end"].int_value == 0


def test_user_code_is_referenced_by_content_addressed_wheels(compiled):
    result, spec = compiled
    text = json.dumps(spec)
    assert (
        "module_file" not in text or '"module_file": {"runtimeValue": {"constantValue": {"stringValue": ""' not in text
    )
    for component, module in (("Transform", "preprocessing"), ("Trainer", "model")):
        params = spec["pipelineSpec"]["root"]["dag"]["tasks"][component]["inputs"]["parameters"]
        module_path = params["module_path"]["runtimeValue"]["constantValue"]["stringValue"]
        name, uri = module_path.split("@")
        assert name == module
        assert uri.startswith("gs://penguins-dev-artifacts/wheels/tfx_user_code_")
        assert uri.split("gs://penguins-dev-artifacts/", 1)[1] in result.artifacts
    for path in result.artifacts.values():
        assert path.is_file()


def test_everything_runs_in_the_pinned_image(compiled):
    _, spec = compiled
    images = {
        e["container"]["image"]
        for e in spec["pipelineSpec"]["deploymentSpec"]["executors"].values()
        if "container" in e
    }
    assert images == {IMAGE}


def test_buckets_follow_the_naming_rule(compiled):
    _, spec = compiled
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://penguins-dev-pipeline-root/penguins-dev"
    text = json.dumps(spec)
    assert "gs://penguins-dev-data/penguins" in text
    assert "gs://penguins-dev-artifacts/schemas/" in text


def test_compiles_the_same_twice(compiled, tmp_path):
    again = compile_pipeline(load_environment("dev"), image=IMAGE, output_dir=tmp_path)
    assert normalized(json.loads(again.spec_path.read_text())) == normalized(compiled[1])
    assert set(again.artifacts) == set(compiled[0].artifacts)  # Same content, same names.


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "dev", "--image", "europe-west4-docker.pkg.dev/p/r/pipeline:latest"], "by digest"),
        (["--env", "dev"], "--image is required"),
        (["--env", "dev", "--image-from", "/nonexistent/image.json"], "no image step result"),
        (["--env", "nowhere", "--image", IMAGE], "environment file not found"),
    ],
)
def test_bad_input_is_refused(tmp_path, capsys, argv, message):
    assert kubeflow_v2_runner.main([*argv, "--output-dir", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "pipeline.json").exists()


def test_a_local_environment_compiles_with_its_local_folders(tmp_path):
    config = load_environment("local")
    compiled = compile_pipeline(config, image=IMAGE, output_dir=tmp_path)
    text = compiled.spec_path.read_text()
    paths = config.local_paths()
    assert f"{paths.published}/schemas/" in text
    assert f"{paths.pipeline_root}/penguins-local" in text
    assert "gs://" not in text


def test_the_registry_push_is_given_its_own_job_name(compiled):
    """Vertex fills KFP's placeholder in at run time: the push reads the submitter's lineage from its job."""
    _, spec = compiled
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    (push,) = [task for name, task in tasks.items() if name.startswith("RegistryPush")]
    value = push["inputs"]["parameters"]["pipeline_job"]["runtimeValue"]["constantValue"]["stringValue"]
    assert value == "{{$.pipeline_job_resource_name}}"
