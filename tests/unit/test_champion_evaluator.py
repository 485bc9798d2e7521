"""ChampionEvaluator: the baseline is the `baseline_model` parameter (the champion's model root, or none), the
gate (metric, direction, bound, allowed regression) is parameters, and TFX's own Evaluator executor does the rest."""

import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.compiler import compiler
from tfx.orchestration import data_types
from tfx.types import standard_artifacts

from components.champion_evaluator import ChampionEvaluator, Executor, baseline_artifact, gated_eval_config
from pipelines.penguins.pipeline import eval_config

GATED_METRIC = "SparseCategoricalAccuracy"


def _threshold(config, metric=GATED_METRIC):
    (found,) = [m for spec in config.metrics_specs for m in spec.metrics if m.class_name == metric]
    return found.threshold


def test_the_bounds_go_on_the_gated_metric_only():
    gated = gated_eval_config(eval_config(), GATED_METRIC, "higher", 0.85, 0.02)
    threshold = _threshold(gated)
    assert threshold.value_threshold.lower_bound.value == 0.85
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    # Strictly below -0.02: a candidate exactly 0.02 worse passes, equal accuracy is never a regression.
    assert -0.0200001 < threshold.change_threshold.absolute.value < -0.02
    assert not _threshold(gated, "ExampleCount").ListFields()
    assert not _threshold(eval_config()).ListFields()  # the input is not changed


def test_lower_is_better_bounds_from_above_and_allows_a_rise_of_the_allowed_regression():
    config = tfma.EvalConfig()
    config.metrics_specs.add().metrics.add(class_name="RootMeanSquaredError")
    threshold = _threshold(
        gated_eval_config(config, "RootMeanSquaredError", "lower", 60.0, 2.5), "RootMeanSquaredError"
    )
    assert threshold.value_threshold.upper_bound.value == 60.0
    assert not threshold.value_threshold.HasField("lower_bound")
    assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    # candidate - champion may be 2.5 (an RMSE 2.5 higher passes), and an equal one always does.
    assert 2.5 < threshold.change_threshold.absolute.value < 2.5000001


@pytest.mark.parametrize(
    ("direction", "bound", "regression", "name"),
    [
        ("up", 0.9, 0.0, "gate_direction"),
        ("higher", float("nan"), 0.0, "gate_bound"),
        ("higher", True, 0.0, "gate_bound"),
        ("higher", 0.9, -0.1, "gate_max_regression"),
    ],
)
def test_a_bad_gate_is_refused_naming_the_parameter(direction, bound, regression, name):
    with pytest.raises(ValueError, match=name):
        gated_eval_config(eval_config(), GATED_METRIC, direction, bound, regression)


def test_a_metric_the_config_does_not_compute_cannot_be_gated():
    with pytest.raises(ValueError, match=r"computes no 'AUC' \(it computes ExampleCount, .*SparseCategoricalAccuracy"):
        gated_eval_config(eval_config(), "AUC", "higher", 0.9, 0.0)


def test_the_baseline_is_a_model_root_holding_format_serving(tmp_path):
    with pytest.raises(ValueError, match="no Format-Serving folder"):
        baseline_artifact(str(tmp_path))
    (tmp_path / "Format-Serving").mkdir()
    model = baseline_artifact(str(tmp_path))
    assert model.type_name == "Model" and model.uri == str(tmp_path)


@pytest.fixture
def tfx_do(monkeypatch):
    """What TFX's Evaluator executor is given (it would run TFMA)."""
    calls = []
    monkeypatch.setattr(tfx_executor.Executor, "Do", lambda self, *args: calls.append(args))
    return calls


def _properties(baseline):
    return {
        "eval_config": json_format.MessageToJson(eval_config()),
        "example_splits": '["eval"]',
        "baseline_model": baseline,
        "gate_metric": GATED_METRIC,
        "gate_direction": "higher",
        "gate_bound": 0.9,
        "gate_max_regression": 0.01,
    }


def test_the_executor_gives_tfx_the_champion_and_the_gated_config(tfx_do, tmp_path):
    (tmp_path / "Format-Serving").mkdir()
    model = standard_artifacts.Model()
    Executor().Do({"model": [model], "examples": []}, {}, _properties(str(tmp_path)))
    ((inputs, _, properties),) = tfx_do
    assert [artifact.uri for artifact in inputs["baseline_model"]] == [str(tmp_path)]
    assert inputs["model"] == [model]
    config = tfma.EvalConfig()
    json_format.Parse(properties["eval_config"], config)
    assert _threshold(config).value_threshold.lower_bound.value == 0.9
    # TFX's executor sees its own properties only.
    assert set(properties) == {"eval_config", "example_splits"}


def test_no_champion_means_no_baseline(tfx_do):
    Executor().Do({"model": [standard_artifacts.Model()], "examples": []}, {}, _properties(""))
    ((inputs, _, _),) = tfx_do
    assert "baseline_model" not in inputs


def test_a_champion_that_is_not_there_fails_before_tfma_runs(tfx_do, tmp_path):
    with pytest.raises(ValueError, match="baseline_model"):
        Executor().Do({"model": [], "examples": []}, {}, _properties(str(tmp_path / "gone")))
    assert tfx_do == []


def test_the_component_takes_its_baseline_and_bounds_as_runtime_parameters():
    from tfx.orchestration import pipeline as tfx_pipeline

    examples = types.Channel(type=standard_artifacts.Examples)
    model = types.Channel(type=standard_artifacts.Model)
    parameters = {
        name: data_types.RuntimeParameter(name=name, ptype=kind)
        for name, kind in (
            ("baseline_model", str),
            ("gate_metric", str),
            ("gate_direction", str),
            ("gate_bound", float),
            ("gate_max_regression", float),
        )
    }
    evaluator = ChampionEvaluator(
        examples=examples,
        model=model,
        eval_config=eval_config(),
        example_splits=["eval"],
        **parameters,
    )
    assert evaluator.id == "Evaluator"
    assert "baseline_model" not in evaluator.inputs  # no Resolver can feed it: the parameter is the baseline
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["eval"]
    ir = compiler.Compiler().compile(
        tfx_pipeline.Pipeline(pipeline_name="p", pipeline_root="/r", components=[evaluator])
    )
    node = ir.nodes[0].pipeline_node.parameters.parameters
    assert {name: node[name].runtime_parameter.name for name in parameters} == {name: name for name in parameters}
