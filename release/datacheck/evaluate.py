"""The champion on a batch: the gate's metric (evaluation.metric), through the model's `serving_raw` signature.

The same signature the smoke test and the server use (components/registry/predictor.py), fed the batch's raw
values, so the figure is what the champion would answer in production on these records. The model answers with
the label's name (penguins: `species`); a classifier is also scored per class.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from contracts.metrics import GateMetric
from release.datacheck.rules import Rules

CHUNK = 1000  # Predictor.MAX_INSTANCES


def instances(rows: list[list[str]], rules: Rules) -> tuple[list[dict[str, Any]], list[Any]]:
    """The rows as typed feature dicts without the label, and the labels."""
    convert = {"int": int, "float": float, "string": str}
    features, labels = [], []
    for row in rows:
        record = {c.name: convert[c.kind](v) for c, v in zip(rules.columns, row, strict=True)}
        labels.append(record.pop(rules.label))
        features.append(record)
    return features, labels


def scores(predicted: list[str], labels: list[str], classes: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy and per-class accuracy (recall); None where there is nothing to divide by."""
    right = Counter(label for p, label in zip(predicted, labels, strict=True) if p == label)
    seen = Counter(labels)
    return {
        "records": len(labels),
        "accuracy": sum(right.values()) / len(labels) if labels else None,
        "per_class": {c: {"records": seen[c], "accuracy": right[c] / seen[c] if seen[c] else None} for c in classes},
    }


def errors(predicted: list[float], labels: list[float]) -> dict[str, float | None]:
    """The regression errors by TFMA's metric class names; None on an empty batch."""
    if not labels:
        return {"MeanSquaredError": None, "RootMeanSquaredError": None, "MeanAbsoluteError": None}
    differences = [float(p) - float(label) for p, label in zip(predicted, labels, strict=True)]
    mse = sum(d * d for d in differences) / len(differences)
    return {
        "MeanSquaredError": mse,
        "RootMeanSquaredError": math.sqrt(mse),
        "MeanAbsoluteError": sum(abs(d) for d in differences) / len(differences),
    }


def score(metric: GateMetric, predicted: list[Any], labels: list[Any], rules: Rules) -> dict[str, Any]:
    """The batch's evaluation record: {"records", "metric", "value"} (+ "per_class" for a classifier)."""
    if metric.task == "classification":
        result = scores(predicted, labels, rules.classes)
        return {
            "records": result["records"],
            "metric": metric.name,
            "value": result["accuracy"],
            "per_class": result["per_class"],
        }
    return {"records": len(labels), "metric": metric.name, "value": errors(predicted, labels)[metric.name]}


def evaluate(model_uri: str, version: str, rows: list[list[str]], rules: Rules, metric: GateMetric) -> dict[str, Any]:
    from components.registry.predictor import Predictor

    predictor = Predictor(model_uri, version)
    features, labels = instances(rows, rules)
    predicted: list[Any] = []
    for start in range(0, len(features), CHUNK):
        predicted += [p[rules.label] for p in predictor.predict(features[start : start + CHUNK])]
    return {"champion": version, **score(metric, predicted, labels, rules)}
