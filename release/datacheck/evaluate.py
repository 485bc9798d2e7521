"""The champion on a batch: accuracy overall and per class, through the model's `serving_raw` signature.

The same signature the smoke test and the server use (components/registry/predictor.py), fed the batch's raw
values, so the figure is what the champion would answer in production on these records.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from release.datacheck.rules import Rules

CHUNK = 1000  # Predictor.MAX_INSTANCES


def instances(rows: list[list[str]], rules: Rules) -> tuple[list[dict[str, Any]], list[str]]:
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


def evaluate(model_uri: str, version: str, rows: list[list[str]], rules: Rules) -> dict[str, Any]:
    from components.registry.predictor import Predictor

    predictor = Predictor(model_uri, version)
    features, labels = instances(rows, rules)
    predicted: list[str] = []
    for start in range(0, len(features), CHUNK):
        predicted += [p["species"] for p in predictor.predict(features[start : start + CHUNK])]
    return {"champion": version, **scores(predicted, labels, rules.classes)}
