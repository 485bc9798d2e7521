"""ChampionEvaluator: TFX's Evaluator, gating the candidate against the registry's champion given at submit time.

TFX wires an Evaluator's baseline through a Resolver over ML Metadata; Vertex AI Pipelines compiles only
TFX's latest-blessed strategy, which after a rollback (or in prod, where blessed versions wait for approval)
picks a model that is not serving. Here the baseline is a string parameter instead, `baseline_model`: the
champion's TFX Model artifact root (contracts.registry.baseline_uri), resolved by whoever submits the run (a
RuntimeParameter on Vertex, a value locally). "" means there is no champion: the candidate is judged on the
absolute bound alone (TFMA drops change thresholds without a baseline). So "no regression" means "no worse
than what serves", and the run's parameters (its cache key, its record) say which champion it was judged by.

The gate arrives the same way, named (contracts/environment.py's Evaluation): `gate_metric`, `gate_direction`
("higher" or "lower" is better), `gate_bound` (the absolute bound) and `gate_max_regression` (how much worse than
the champion a candidate may be); the executor writes them into the eval_config's thresholds on that metric, so
one compiled template carries every environment's gate.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.evaluator.component import Evaluator
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import json_utils

from contracts.metrics import DIRECTIONS
from contracts.registry import SERVING_MODEL_DIR

BASELINE_MODEL = "baseline_model"  # the same key as TFX's baseline input, which this spec replaces
# The gate's parameters: the same names as the runtime parameters that carry them (contracts/environment_parameters).
GATE_METRIC = "gate_metric"  # the class name of a MetricConfig of the eval_config
GATE_DIRECTION = "gate_direction"  # "higher" or "lower": which way the metric is better
GATE_BOUND = "gate_bound"
GATE_MAX_REGRESSION = "gate_max_regression"
# A change bound just past the allowed regression: an equal value is never a regression.
_EQUAL_IS_NO_REGRESSION = 1e-10


class ChampionEvaluatorSpec(ComponentSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **specs.EvaluatorSpec.PARAMETERS,
        BASELINE_MODEL: ExecutionParameter(type=str),
        GATE_METRIC: ExecutionParameter(type=str),
        GATE_DIRECTION: ExecutionParameter(type=str),
        GATE_BOUND: ExecutionParameter(type=float),
        GATE_MAX_REGRESSION: ExecutionParameter(type=float),
    }
    INPUTS: ClassVar[dict[str, ChannelParameter]] = {
        key: value for key, value in specs.EvaluatorSpec.INPUTS.items() if key != specs.BASELINE_MODEL_KEY
    }
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = dict(specs.EvaluatorSpec.OUTPUTS)
    TYPE_ANNOTATION = specs.EvaluatorSpec.TYPE_ANNOTATION


def gated_eval_config(
    config: tfma.EvalConfig, metric: str, direction: str, bound: float, max_regression: float
) -> tfma.EvalConfig:
    """`config` with the gate on `metric`: at least `bound` (direction "higher") or at most `bound` ("lower"), and
    at most `max_regression` worse than the baseline; ValueError naming the parameter that is wrong."""
    if direction not in DIRECTIONS:
        raise ValueError(f"{GATE_DIRECTION}: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
    for name, value in ((GATE_BOUND, bound), (GATE_MAX_REGRESSION, max_regression)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if max_regression < 0:
        raise ValueError(f"{GATE_MAX_REGRESSION}: expected a number >= 0, got {max_regression!r}")
    gated = tfma.EvalConfig()
    gated.CopyFrom(config)
    found = [m for spec in gated.metrics_specs for m in spec.metrics if m.class_name == metric]
    if not found:
        computed = sorted({m.class_name for spec in gated.metrics_specs for m in spec.metrics})
        raise ValueError(f"{GATE_METRIC}: the eval_config computes no {metric!r} (it computes {', '.join(computed)})")
    higher = direction == "higher"
    slack = max_regression + _EQUAL_IS_NO_REGRESSION
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(**{"lower_bound" if higher else "upper_bound": {"value": bound}}),
        # The change is candidate - baseline: higher is better may fall by `slack` at most, lower may rise by it.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER if higher else tfma.MetricDirection.LOWER_IS_BETTER,
            absolute={"value": -slack if higher else slack},
        ),
    )
    for metric_config in found:
        metric_config.threshold.CopyFrom(threshold)
    return gated


def baseline_artifact(uri: str) -> types.Artifact:
    """The champion as a Model artifact (its root holds Format-Serving/); ValueError if the copy is not there."""
    if not fileio.exists(os.path.join(uri, SERVING_MODEL_DIR)):
        raise ValueError(f"{BASELINE_MODEL} {uri!r}: no {SERVING_MODEL_DIR} folder there; is it the champion's root?")
    model = standard_artifacts.Model()
    model.uri = uri
    return model


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator executor, given the gated eval_config and the champion (if any) as its baseline."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict, exec_properties: dict[str, Any]) -> None:  # noqa: N802
        properties = dict(exec_properties)
        baseline = properties.pop(BASELINE_MODEL)
        config = tfma.EvalConfig()
        json_format.Parse(properties[specs.EVAL_CONFIG_KEY], config)
        gated = gated_eval_config(
            config,
            properties.pop(GATE_METRIC),
            properties.pop(GATE_DIRECTION),
            properties.pop(GATE_BOUND),
            properties.pop(GATE_MAX_REGRESSION),
        )
        properties[specs.EVAL_CONFIG_KEY] = json_format.MessageToJson(gated)
        inputs = dict(input_dict)
        if baseline:
            inputs[specs.BASELINE_MODEL_KEY] = [baseline_artifact(baseline)]
        super().Do(inputs, output_dict, properties)


class ChampionEvaluator(Evaluator):
    SPEC_CLASS = ChampionEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        *,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        gate_metric: str | Any,
        gate_direction: str | Any,
        gate_bound: float | Any,
        gate_max_regression: float | Any,
        baseline_model: str | Any,
        example_splits: list[str],
    ) -> None:
        """The gate and `baseline_model`: values or RuntimeParameters; the node keeps the id `Evaluator`, so
        caches, summaries and lineage keep their names."""
        spec = ChampionEvaluatorSpec(
            examples=examples,
            model=model,
            eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits),
            baseline_model=baseline_model,
            gate_metric=gate_metric,
            gate_direction=gate_direction,
            gate_bound=gate_bound,
            gate_max_regression=gate_max_regression,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        # TFX's Evaluator.__init__ builds its own spec class; BaseBeamComponent's takes this one.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
        self.with_id("Evaluator")
