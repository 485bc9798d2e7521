"""The pipeline graph: components, wiring, parameters; and that it compiles to TFX IR."""

import json

import pytest
from tfx.dsl.compiler import compiler
from tfx.orchestration import data_types
from tfx.proto.orchestration import pipeline_pb2

from contracts.data_layout import SPAN_INPUT_PATTERN
from contracts.registry import RegistryTarget
from pipelines.penguins.pipeline import eval_config
from pipelines.pipeline import create_pipeline

EXPECTED_ORDER = [
    "HyperparametersGen",
    "ImportSchemaGen",
    "SpanRangeGen",
    "WindowExampleGen",
    "StatisticsGen",
    "ExampleValidator",
    "ValidationGate",
    "Transform",
    "Trainer",
    "Evaluator",
    "RegistryPush",
]


def make(tmp_path, **overrides):
    args = dict(
        pipeline_name="penguins-test",
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        schema_path=str(tmp_path / "schema" / "schema.pbtxt"),
        preprocessing_module=str(tmp_path / "pre" / "abc" / "preprocessing.py"),
        model_module=str(tmp_path / "modules" / "def" / "model.py"),
        eval_config=eval_config(),
        registry=RegistryTarget(
            backend="mlflow", model_name="penguins-test", auto_promote=True, root=str(tmp_path / "r")
        ),
        run_labels={"commit": "abc123", "source": "ci"},
        num_epochs=5,
        learning_rate=0.02,
        gate_metric="SparseCategoricalAccuracy",
        gate_direction="higher",
        gate_bound=0.9,
        gate_max_regression=0.01,
        baseline_model="",
    )
    args.update(overrides)
    pipeline = create_pipeline(**args)
    return pipeline, {c.id: c for c in pipeline.components}


def producer(channel):
    return channel.producer_component_id


def test_components_in_topological_order(tmp_path):
    pipeline, _ = make(tmp_path)
    assert [c.id for c in pipeline.components] == EXPECTED_ORDER


def test_wiring(tmp_path):
    _, c = make(tmp_path)
    assert producer(c["StatisticsGen"].inputs["examples"]) == "WindowExampleGen"
    # The span range and the window reach ExampleGen through placeholders on SpanRangeGen's outputs.
    assert "SpanRangeGen" in {n.id for n in c["WindowExampleGen"].upstream_nodes}
    assert producer(c["ExampleValidator"].inputs["schema"]) == "ImportSchemaGen"
    assert producer(c["ValidationGate"].inputs["anomalies"]) == "ExampleValidator"
    # Transform must wait for the gate, so anomalous data never reaches it.
    assert "ValidationGate" in {n.id for n in c["Transform"].upstream_nodes}
    assert producer(c["Trainer"].inputs["examples"]) == "Transform"
    assert producer(c["Trainer"].inputs["hyperparameters"]) == "HyperparametersGen"
    assert producer(c["Evaluator"].inputs["model"]) == "Trainer"
    # No resolver: the baseline is a parameter, the registry's champion when the run was submitted.
    assert "baseline_model" not in c["Evaluator"].inputs
    # Raw examples (TFMA applies the transform): candidate and baseline are evaluated on the same eval split.
    assert producer(c["Evaluator"].inputs["examples"]) == "WindowExampleGen"
    push = c["RegistryPush"].inputs
    assert producer(push["model_blessing"]) == "Evaluator" and producer(push["evaluation"]) == "Evaluator"
    assert producer(push["model"]) == "Trainer" and producer(push["examples"]) == "WindowExampleGen"
    assert producer(push["hyperparameters"]) == "HyperparametersGen"


def test_parameters_and_settings(tmp_path):
    _, c = make(tmp_path)
    assert c["HyperparametersGen"].exec_properties == {"num_epochs": 5, "learning_rate": 0.02}
    assert c["SpanRangeGen"].exec_properties == {"span_start": 0, "span_end": 0, "window_spans": 1}
    assert c["Transform"].exec_properties["module_file"] == str(tmp_path / "pre/abc/preprocessing.py")
    assert c["Transform"].exec_properties["disable_statistics"] == 1
    assert c["Trainer"].exec_properties["module_file"] == str(tmp_path / "modules/def/model.py")
    assert c["ImportSchemaGen"].exec_properties["schema_file"] == str(tmp_path / "schema/schema.pbtxt")
    assert SPAN_INPUT_PATTERN in c["WindowExampleGen"].exec_properties["input_config"]
    push = c["RegistryPush"].exec_properties
    assert RegistryTarget.model_validate_json(push["registry"]).root == str(tmp_path / "r")
    assert json.loads(push["labels"]) == {"commit": "abc123", "source": "ci"}
    assert push["data_root"] == str(tmp_path / "data")


def test_window_size_and_placeholders_reach_the_example_gen(tmp_path):
    _, c = make(tmp_path, window_spans=3)
    assert c["SpanRangeGen"].exec_properties["window_spans"] == 3
    ir = compiler.Compiler().compile(make(tmp_path, window_spans=3)[0])
    node = next(n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == "WindowExampleGen")
    for key, output in (("range_config", "range_config"), ("window", "window")):
        placeholder = str(node.parameters.parameters[key].placeholder)
        assert output in placeholder and "SpanRangeGen" in str(node.inputs), key
    # Locally, ExampleGen's driver is the window's (it fingerprints every span of the window).
    assert "WindowDriver" in str(ir.deployment_config)


def test_evaluator_gets_its_gate_and_the_champion_as_parameters(tmp_path):
    _, c = make(tmp_path, gate_bound=0.85, gate_max_regression=0.02, baseline_model="/r/artifacts/abc")
    props = c["Evaluator"].exec_properties
    assert (props["gate_bound"], props["gate_max_regression"]) == (0.85, 0.02)
    assert (props["gate_metric"], props["gate_direction"]) == ("SparseCategoricalAccuracy", "higher")
    assert props["baseline_model"] == "/r/artifacts/abc"
    # What it computes is fixed; the gate's thresholds are set by its executor (components/champion_evaluator.py).
    assert "threshold" not in props["eval_config"] and "SparseCategoricalAccuracy" in props["eval_config"]


def test_the_registry_may_be_given_as_json(tmp_path):
    target = RegistryTarget(backend="mlflow", model_name="m", auto_promote=False, root=str(tmp_path / "r"))
    _, c = make(tmp_path, registry=target.model_dump_json())
    assert RegistryTarget.model_validate_json(c["RegistryPush"].exec_properties["registry"]) == target
    with pytest.raises(ValueError, match="backend"):
        make(tmp_path, registry='{"model_name": "m"}')


def test_runtime_parameters_are_accepted_and_compiled(tmp_path):
    epochs = data_types.RuntimeParameter(name="num_epochs", ptype=int, default=20)
    rate = data_types.RuntimeParameter(name="learning_rate", ptype=float, default=0.01)
    start = data_types.RuntimeParameter(name="span_start", ptype=int, default=0)
    end = data_types.RuntimeParameter(name="span_end", ptype=int, default=0)
    pipeline, c = make(tmp_path, num_epochs=epochs, learning_rate=rate, span_start=start, span_end=end)
    assert c["HyperparametersGen"].exec_properties["num_epochs"] is epochs
    ir = compiler.Compiler().compile(pipeline)
    node = next(n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == "HyperparametersGen")
    assert node.parameters.parameters["num_epochs"].runtime_parameter.name == "num_epochs"
    assert node.parameters.parameters["learning_rate"].runtime_parameter.name == "learning_rate"
    spans = next(n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == "SpanRangeGen")
    assert spans.parameters.parameters["span_start"].runtime_parameter.name == "span_start"


def test_concrete_values_compile(tmp_path):
    ir = compiler.Compiler().compile(make(tmp_path)[0])
    assert isinstance(ir, pipeline_pb2.Pipeline)
    assert [n.pipeline_node.node_info.id for n in ir.nodes] == EXPECTED_ORDER


def test_factory_reads_no_environment(tmp_path, monkeypatch):
    monkeypatch.setattr("os.environ", {})
    pipeline, _ = make(tmp_path)
    assert pipeline.pipeline_info.pipeline_name == "penguins-test"


@pytest.mark.parametrize(
    "missing", ["pipeline_root", "num_epochs", "gate_bound", "gate_metric", "baseline_model", "data_root"]
)
def test_every_value_is_required(tmp_path, missing):
    args = dict(
        pipeline_name="p",
        pipeline_root="r",
        data_root="d",
        schema_path="s",
        preprocessing_module="p.py",
        model_module="m.py",
        eval_config=eval_config(),
        registry=RegistryTarget(backend="mlflow", model_name="p", auto_promote=True, root="r"),
        num_epochs=1,
        learning_rate=0.1,
        gate_metric="SparseCategoricalAccuracy",
        gate_direction="higher",
        gate_bound=0.5,
        gate_max_regression=0.0,
        baseline_model="",
    )
    del args[missing]
    with pytest.raises(TypeError, match=missing):
        create_pipeline(**args)


BEAM_COMPONENTS = {"WindowExampleGen", "StatisticsGen", "Transform", "Evaluator"}


def test_by_default_the_trainer_and_beam_run_in_process(tmp_path):
    """The local run (and an in-step environment): TFX's own Trainer, DirectRunner's defaults."""
    from tfx.components import Trainer

    pipeline, c = make(tmp_path)
    assert type(c["Trainer"]) is Trainer
    assert c["Trainer"].exec_properties["custom_config"] in (None, "null")
    assert pipeline.beam_pipeline_args == []
    assert all(not getattr(node.executor_spec, "beam_pipeline_args", []) for node in c.values())


def test_beam_args_go_to_the_beam_components_only(tmp_path):
    args = ["--runner=DataflowRunner", "--sdk_container_image=img@sha256:" + "0" * 64]
    pipeline, c = make(tmp_path, beam_pipeline_args=args)
    with_args = {node_id for node_id, node in c.items() if getattr(node.executor_spec, "beam_pipeline_args", [])}
    assert with_args == BEAM_COMPONENTS
    assert all(c[node_id].executor_spec.beam_pipeline_args == args for node_id in BEAM_COMPONENTS)
    assert pipeline.beam_pipeline_args == []  # Not pipeline-wide: see create_pipeline.


def test_vertex_training_is_a_custom_job_of_the_template_image(tmp_path):
    from components.vertex_trainer import VertexTrainer

    image = "img@sha256:" + "0" * 64
    custom = data_types.RuntimeParameter(name="training_config", ptype=str)
    _, c = make(tmp_path, training_config=custom, training_image=image)
    assert type(c["Trainer"]) is VertexTrainer
    assert c["Trainer"].exec_properties["custom_config"] is custom
    assert c["Trainer"].exec_properties["worker_image"] == image
    assert c["Trainer"].id == "Trainer"  # Same node id: cache and lineage keep their names.
    with pytest.raises(ValueError, match="training_image"):
        make(tmp_path, training_config=custom)
