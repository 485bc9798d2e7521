"""The metrics a release gate may name (an environment's `evaluation.metric`).

Each is a TFMA metric class name (a MetricConfig of the pipeline's eval_config), with the direction in which it is
better, the kind of model it scores, and the key TFMA writes its value under (the MLflow run's metric, the
registry's lineage). The data check computes the same metric itself on a batch of the champion's predictions
(release/datacheck/evaluate.py), so its retrain decision and the Evaluator's gate speak of one number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower"]
Task = Literal["classification", "regression"]
DIRECTIONS: tuple[Direction, ...] = ("higher", "lower")


@dataclass(frozen=True)
class GateMetric:
    name: str  # TFMA's MetricConfig class_name
    direction: Direction  # which way is better
    task: Task
    key: str  # the name TFMA gives its value

    def better(self, value: float, than: float) -> bool:
        """Whether `value` is strictly better than `than` in this metric's direction."""
        return value > than if self.direction == "higher" else value < than

    def worse_sign(self) -> str:
        """The comparison that means worse than a bound, for messages: '<' (higher is better) or '>'."""
        return "<" if self.direction == "higher" else ">"


GATE_METRICS: dict[str, GateMetric] = {
    metric.name: metric
    for metric in (
        GateMetric("SparseCategoricalAccuracy", "higher", "classification", "sparse_categorical_accuracy"),
        GateMetric("RootMeanSquaredError", "lower", "regression", "root_mean_squared_error"),
        GateMetric("MeanSquaredError", "lower", "regression", "mean_squared_error"),
        GateMetric("MeanAbsoluteError", "lower", "regression", "mean_absolute_error"),
    )
}


def gate_metric(name: str) -> GateMetric:
    """The gate metric called `name`; ValueError listing the known ones."""
    try:
        return GATE_METRICS[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a gate metric; one of {', '.join(GATE_METRICS)}") from None
