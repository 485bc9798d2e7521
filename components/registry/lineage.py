"""The lineage of a candidate model, read from the pipeline's artifacts and the run's labels."""

from __future__ import annotations

import json
import os
from typing import Any

from components.registry.content import tree_sha256
from contracts.registry import Lineage, Span

# The Trainer's hyperparameters file (components/hyperparameters.py writes it).
HYPERPARAMETERS_FILE = "hyperparameters.json"
# Keys of the run labels (contracts/run_request.py, release/submit.py) that go into the lineage as they are.
LABEL_KEYS = ("commit", "modules", "image", "template", "template_source", "baseline", "source")


def evaluation_metrics(evaluation_uri: str) -> tuple[dict[str, float], dict[str, float]]:
    """(candidate, baseline) metrics of the overall slice from the Evaluator's output."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, float] = {}
    baseline: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue  # Only the overall slice.
        for kv in slice_metrics.metric_keys_and_values:
            if kv.key.HasField("aggregation_type") or kv.key.is_diff or not kv.value.HasField("double_value"):
                continue
            target = baseline if kv.key.model_name == "baseline" else metrics
            target[kv.key.name] = kv.value.double_value.value
    return metrics, baseline


def hyperparameters(uri: str) -> dict[str, Any]:
    from tfx.dsl.io import fileio

    with fileio.open(os.path.join(uri, HYPERPARAMETERS_FILE)) as handle:
        return dict(json.loads(handle.read())["values"])


def spans(data_root: str, numbers: list[int]) -> tuple[Span, ...]:
    """Each span the examples came from, with the sha256 of its files (spans are never rewritten)."""
    return tuple(Span(number=n, sha256=tree_sha256(f"{data_root.rstrip('/')}/span-{n}")) for n in sorted(set(numbers)))


def build_lineage(
    *,
    run_id: str,
    labels: dict[str, str],
    data_root: str,
    span_numbers: list[int],
    hyperparameters_uri: str,
    evaluation_uri: str,
) -> Lineage:
    metrics, baseline = evaluation_metrics(evaluation_uri)
    return Lineage(
        pipeline_run_id=run_id,
        **{key: labels[key] for key in LABEL_KEYS if labels.get(key)},
        spans=spans(data_root, span_numbers),
        parameters=hyperparameters(hyperparameters_uri),
        metrics=metrics,
        baseline_metrics=baseline,
    )
