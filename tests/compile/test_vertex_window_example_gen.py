"""WindowExampleGen as Vertex AI Pipelines runs it, offline: the task the golden spec holds, TFX's
pre-cache-check driver (the container's lifecycle hook), then the executor entrypoint, on local folders.

Between the two, Vertex updates the task's parameters with the driver's output (span, fingerprint, the
resolved input_config) before the executor starts; `run_task` does that step itself."""

import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils, kubeflow_v2_run_executor
from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver

from components.span_range import range_config_json, window_json
from components.window_example_gen import example_spans
from contracts.config import load_environment
from contracts.environment_parameters import environment_parameters
from pipelines import kubeflow_v2_runner

HEADER = "species,island,bill_length_mm,body_mass_g\n"


@pytest.fixture(scope="module")
def golden():
    return json.loads(kubeflow_v2_runner.golden("penguins").read_text())["pipelineSpec"]


def task_parameters(golden, data, span_start, span_end):
    """The task's constants from the golden spec, a dev run's values of the pipeline parameters it takes (the
    Dataflow arguments, which the executor ignores here, running Beam in place), SpanRangeGen's outputs, and
    where the spans are (the run's data_root)."""
    task = golden["root"]["dag"]["tasks"]["WindowExampleGen"]["inputs"]["parameters"]
    assert {k for k, v in task.items() if "taskOutputParameter" in v} == {"range_config", "window"}
    assert task["input_base"] == {"componentInputParameter": "data_root"}
    values = {k: v["runtimeValue"]["constantValue"] for k, v in task.items() if "runtimeValue" in v}
    run = environment_parameters(load_environment("dev", "penguins"), baseline_model="")
    values.update(
        {
            k: {"stringValue": run[v["componentInputParameter"]]}
            for k, v in task.items()
            if "componentInputParameter" in v
        }
    )
    values.update(
        input_base={"stringValue": str(data)},
        range_config={"stringValue": range_config_json(span_start, span_end)},
        window={"stringValue": window_json(span_start, span_end, 3)},
    )
    return values


def invocation(parameters, out, metadata=None):
    examples = {"name": "examples-1", "type": {"schemaTitle": "tfx.Examples"}, "uri": str(out / "examples")}
    examples.update({"metadata": metadata} if metadata else {})
    return json.dumps(
        {
            "inputs": {"parameters": parameters},
            "outputs": {
                "artifacts": {"examples": {"artifacts": [examples]}},
                "outputFile": str(out / "executor_output.json"),
            },
        }
    )


def run_task(golden, data, out, span_start, span_end):
    parameters = task_parameters(golden, data, span_start, span_end)
    driver.main(driver._parse_flags(["--json_serialized_invocation_args", invocation(parameters, out)]))
    driver_output = json.loads((out / "executor_output.json").read_text())
    resolved = driver_output["parameterValues"]
    [examples] = driver_output["artifacts"]["examples"]["artifacts"]
    for key, value in resolved.items():
        parameters[key] = {"intValue": int(value)} if isinstance(value, (int, float)) else {"stringValue": value}
    executor = golden["deploymentSpec"]["executors"]["WindowExampleGen_executor"]["container"]
    assert executor["args"][:2] == ["--executor_class_path", "components.window_example_gen.Executor"]
    args = ["--executor_class_path", executor["args"][1], "--json_serialized_invocation_args"]
    kubeflow_v2_run_executor.main(
        kubeflow_v2_run_executor._parse_flags([*args, invocation(parameters, out, examples["metadata"])])
    )
    [artifact] = json.loads((out / "executor_output.json").read_text())["artifacts"]["examples"]["artifacts"]
    return resolved, artifact


def make_spans(data, numbers):
    for n in numbers:
        (data / f"span-{n}").mkdir(parents=True)
        (data / f"span-{n}" / "part.csv").write_text(
            HEADER + "".join(f"Adelie,i{n},{n}.{i},{3000 + i}\n" for i in range(12))
        )


def test_the_newest_window_runs_through_the_vertex_driver_and_executor(golden, tmp_path):
    data = tmp_path / "data"
    make_spans(data, (1, 8, 9, 10))
    cached_on, artifact = run_task(golden, data, tmp_path / "newest", 0, 0)
    # The driver resolves span 10 (an integer, after 9) and fingerprints it: the Vertex cache key.
    assert cached_on["span"] == 10 and "span-10" in cached_on["input_config"]
    assert "num_files:1" in cached_on["input_fingerprint"]
    props = artifact["metadata"]
    # Every span of the window, for RegistryPush's lineage; the driver's span (the newest) beside it.
    assert props["spans"] == "8,9,10" and props["custom:span"] == 10
    assert sorted(p.name for p in (tmp_path / "newest" / "examples").iterdir()) == ["Split-eval", "Split-train"]
    # As a downstream step (RegistryPush) gets it back from Vertex: the window's spans, for the lineage.
    downstream = pipeline_spec_pb2.ExecutorInput()
    json_format.ParseDict(
        {"inputs": {"artifacts": {"examples": {"artifacts": [{**artifact, "type": {"schemaTitle": "tfx.Examples"}}]}}}},
        downstream,
    )
    [examples] = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(downstream.inputs.artifacts)["examples"]
    assert example_spans(examples) == [8, 9, 10]


def test_an_explicit_window_with_a_missing_span_fails_naming_it(golden, tmp_path):
    data = tmp_path / "data"
    make_spans(data, (1, 3))
    with pytest.raises(ValueError, match="span 2 is missing"):
        run_task(golden, data, tmp_path / "gap", 1, 3)
