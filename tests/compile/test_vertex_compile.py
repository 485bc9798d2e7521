"""The Vertex compile: one template for every cloud environment (golden spec), runtime parameters for every
environment value, declared placeholders, content-addressed module references."""

import difflib
import json
import re

import pytest

from contracts.config import load_environment
from contracts.environment_parameters import environment_values, template_shape
from contracts.run_request import Baseline
from pipelines import kubeflow_v2_runner, vertex_compile
from pipelines.vertex_compile import CompileRefusedError, compile_pipeline, declare_placeholders, normalized

IMAGE = kubeflow_v2_runner.GOLDEN_IMAGE


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    result = compile_pipeline(
        load_environment("dev", "penguins"), image=IMAGE, output_dir=tmp_path_factory.mktemp("dev")
    )
    return result, json.loads(result.spec_path.read_text())


def test_matches_the_golden_spec(compiled):
    _, spec = compiled
    actual = json.dumps(normalized(spec), indent=2, sort_keys=True).splitlines()
    golden = kubeflow_v2_runner.golden("penguins").read_text().splitlines()
    diff = "\n".join(difflib.unified_diff(golden, actual, "golden", "compiled", lineterm="", n=2))
    assert not diff, f"compiled spec differs from the golden file; if intended, run `nox -s golden`:\n{diff}"


def test_every_environment_value_is_a_runtime_parameter(compiled):
    _, spec = compiled
    declared = spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    kinds = {str: "STRING", int: "INT", float: "DOUBLE"}
    expected = {
        name: kinds[kind]
        for name, kind in template_shape(load_environment("dev", "penguins")).parameter_types().items()
    }
    expected.update(num_epochs="INT", learning_rate="DOUBLE", span_start="INT", span_end="INT")
    assert {name: value["type"] for name, value in declared.items()} == expected


def test_only_run_parameters_have_defaults_and_the_template_names_no_pipeline_root(compiled):
    """Vertex refuses a job that leaves out a parameter without a default: an environment value is never taken
    from the template (another environment's), and the defaults of the run parameters are the contract's."""
    _, spec = compiled
    assert spec["runtimeConfig"] == {
        "parameters": {
            "learning_rate": {"doubleValue": 0.01},
            "num_epochs": {"intValue": "20"},
            "span_end": {"intValue": "0"},
            "span_start": {"intValue": "0"},
        }
    }


def test_a_partial_request_submits_a_valid_job(compiled, tmp_path):
    """Request level: a message with only num_epochs and learning_rate becomes a job that sets all of them."""
    from google.auth.credentials import AnonymousCredentials

    from contracts.run_request import RunRequest
    from release.vertex import VertexSubmitter

    result, _ = compiled
    submitter = VertexSubmitter(
        load_environment("dev", "penguins"), str(result.spec_path), credentials=AnonymousCredentials()
    )
    job = submitter.build_job(RunRequest("penguins-dev-partial", {"num_epochs": 3, "learning_rate": 0.05}), Baseline())
    runtime = job._gca_resource.runtime_config
    values = {name: runtime.parameters[name] for name in runtime.parameters}
    assert set(values) == set(spec_parameters(compiled[1]))
    assert values["num_epochs"].int_value == 3 and values["learning_rate"].double_value == 0.05
    assert values["span_start"].int_value == 0 and values["span_end"].int_value == 0
    assert values["baseline_model"].string_value == "" and values["gate_bound"].double_value == 0.9


def spec_parameters(spec):
    return spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]


_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


def test_every_placeholder_is_declared_and_fed_from_the_pipelines_parameter(compiled):
    _, spec = compiled
    pipeline = spec["pipelineSpec"]
    tasks = pipeline["root"]["dag"]["tasks"]
    seen = set()
    for name, component in pipeline["components"].items():
        executor = pipeline["deploymentSpec"]["executors"].get(component.get("executorLabel"), {})
        container = executor.get("container", {})
        args = [*container.get("args", []), *container.get("lifecycle", {}).get("preCacheCheck", {}).get("args", [])]
        for parameter in {found for arg in args for found in _PLACEHOLDER.findall(arg)}:
            seen.add(parameter)
            assert component["inputDefinitions"]["parameters"][parameter] == {"type": "STRING"}, (name, parameter)
            assert tasks[name]["inputs"]["parameters"][parameter] == {"componentInputParameter": parameter}
            assert parameter in spec_parameters(spec)
    assert seen == {name for name in spec_parameters(spec) if name.startswith("dataflow_")}
    assert len(seen) == 8


def test_no_environment_value_is_in_the_template(compiled):
    """Only the release store (dev's artifacts, dev's image repository) is named: prod reads both."""
    _, spec = compiled
    text = json.dumps(spec)
    leftovers = re.findall(r"penguins-dev-[a-z-]+", text)
    assert set(leftovers) == {"penguins-dev-artifacts", "penguins-dev-images"}
    # Without the release store's names, nothing of either environment is left.
    text = text.replace("europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/", "<images>/")
    text = text.replace("gs://penguins-dev-artifacts/", "<artifacts>/")
    for name in ("dev", "prod"):
        config = load_environment(name, "penguins")
        for key, value in environment_values(config).items():
            # The gate's metric is also one the DAG computes (its eval_config), which is not an environment's.
            if key == "gate_metric":
                continue
            if isinstance(value, str) and len(value) > 3 and not value.startswith("{"):  # not "4" or ""
                assert value not in text, (name, value)
        assert config.pipeline_root() not in text and config.gcp.pipeline_service_account not in text
    assert "penguins-prod" not in text and "my-prod-project" not in text and "my-dev-project" not in text
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == "penguins" == spec["displayName"]


def test_declaring_a_placeholder_that_clashes_with_a_parameter_is_refused():
    spec = {
        "pipelineSpec": {
            "root": {"dag": {"tasks": {"T": {"componentRef": {"name": "T"}}}}},
            "components": {"T": {"executorLabel": "T_executor", "inputDefinitions": {"parameters": {"x": {}}}}},
            "deploymentSpec": {
                "executors": {"T_executor": {"container": {"args": ["--x={{$.inputs.parameters['x']}}"]}}}
            },
        }
    }
    with pytest.raises(ValueError, match="clashes"):
        declare_placeholders(spec)


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


def test_the_schema_and_wheels_are_in_the_release_store(compiled):
    result, spec = compiled
    assert "gs://penguins-dev-artifacts/schemas/" in json.dumps(spec)
    assert result.environments == ("dev", "prod")


def test_compiles_the_same_twice(compiled, tmp_path):
    again = compile_pipeline(load_environment("dev", "penguins"), image=IMAGE, output_dir=tmp_path)
    assert normalized(json.loads(again.spec_path.read_text())) == normalized(compiled[1])
    assert set(again.artifacts) == set(compiled[0].artifacts)  # Same content, same names.


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--env", "dev", "--pipeline", "penguins", "--image", "europe-west4-docker.pkg.dev/p/r/pipeline:latest"],
            "by digest",
        ),
        (["--env", "dev", "--pipeline", "penguins"], "--image is required"),
        (["--env", "dev", "--pipeline", "penguins", "--image-from", "/nonexistent/image.json"], "no image step result"),
        (["--env", "nowhere", "--image", IMAGE], "environment file not found"),
    ],
)
def test_bad_input_is_refused(tmp_path, capsys, argv, message):
    assert kubeflow_v2_runner.main([*argv, "--output-dir", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "pipeline.json").exists()


def test_a_local_environment_compiles_with_its_local_folders(tmp_path):
    config = load_environment("local", "penguins")
    compiled = compile_pipeline(config, image=IMAGE, output_dir=tmp_path)
    text = compiled.spec_path.read_text()
    assert f"{config.local_paths().published}/schemas/" in text
    assert "gs://" not in text and "dataflow_" not in text and "training_config" not in text


def test_compiling_for_prod_says_it_runs_devs_templates(tmp_path, capsys):
    argv = ["--env", "prod", "--pipeline", "penguins", "--image", IMAGE, "--output-dir", str(tmp_path / "out")]
    assert kubeflow_v2_runner.main(argv) == 2
    assert "runs the templates 'dev' publishes" in capsys.readouterr().err
    assert not (tmp_path / "out" / "pipeline.json").exists()


def test_an_environment_that_needs_another_dag_cannot_share_the_template(tmp_path, monkeypatch):
    raw = load_environment("prod", "penguins").model_dump(mode="json", exclude_none=True)
    raw["gcp"]["training"]["engine"] = "in-step"
    (tmp_path / "prod.yaml").write_text(json.dumps(raw))
    (tmp_path / "dev.yaml").write_text(
        json.dumps(load_environment("dev", "penguins").model_dump(mode="json", exclude_none=True))
    )
    monkeypatch.setattr(vertex_compile, "ENVS_DIR", tmp_path)
    with pytest.raises(CompileRefusedError, match=r"'prod' runs the templates of 'dev'.*gcp.training.engine"):
        compile_pipeline(load_environment("dev", "penguins"), image=IMAGE, output_dir=tmp_path / "out")


def test_the_registry_push_is_given_its_own_job_name(compiled):
    """Vertex fills KFP's placeholder in at run time: the push reads the submitter's lineage from its job."""
    _, spec = compiled
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    (push,) = [task for name, task in tasks.items() if name.startswith("RegistryPush")]
    value = push["inputs"]["parameters"]["pipeline_job"]["runtimeValue"]["constantValue"]["stringValue"]
    assert value == "{{$.pipeline_job_resource_name}}"
