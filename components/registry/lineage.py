"""The lineage of a candidate model, read from the pipeline's artifacts and the run's labels.

Artifacts on gs:// (a Vertex run) are read through google-cloud-storage (components/registry/gcs.py): the
spans are hashed object by object, the hyperparameters read as one object, and the evaluation downloaded to
a temporary folder for TFMA, which reads only local files here.
"""

from __future__ import annotations

import json
from typing import Any

from components.registry import gcs
from components.registry.content import tree_sha256
from contracts.data_layout import join, span_folder
from contracts.registry import Lineage, Span

# The Trainer's hyperparameters file (components/hyperparameters.py writes it).
HYPERPARAMETERS_FILE = "hyperparameters.json"
# Keys of the run labels (contracts/run_request.py, release/submit.py) that go into the lineage as they are.
LABEL_KEYS = ("commit", "modules", "image", "template", "template_source", "baseline", "source")
# The run label saying whether the working tree had uncommitted changes ("true" or "false").
DIRTY_LABEL = "dirty"


def evaluation_metrics(evaluation_uri: str, client: Any = None) -> tuple[dict[str, float], dict[str, float]]:
    """(candidate, baseline) metrics of the overall slice from the Evaluator's output (per-class ones aside)."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, float] = {}
    baseline: dict[str, float] = {}
    with gcs.local_folder(evaluation_uri, client) as folder:
        loaded = list(tfma.load_metrics(str(folder)))
    for slice_metrics in loaded:
        if slice_metrics.slice_key.single_slice_keys:
            continue  # Only the overall slice.
        for kv in slice_metrics.metric_keys_and_values:
            key = kv.key
            if key.HasField("aggregation_type") or key.HasField("sub_key") or key.is_diff:
                continue
            if not kv.value.HasField("double_value"):
                continue
            target = baseline if key.model_name == "baseline" else metrics
            target[key.name] = kv.value.double_value.value
    return metrics, baseline


def hyperparameters(uri: str, client: Any = None) -> dict[str, Any]:
    where = f"{uri.rstrip('/')}/{HYPERPARAMETERS_FILE}"
    if gcs.is_gcs(where):
        text = gcs.read_bytes(client or gcs.storage_client(), where)
    else:
        with open(where, "rb") as handle:
            text = handle.read()
    return dict(json.loads(text)["values"])


def spans(data_root: str, numbers: list[int], client: Any = None) -> tuple[Span, ...]:
    """Each span the examples came from, with the sha256 of its files (spans are never rewritten)."""
    root = data_root
    return tuple(Span(number=n, sha256=tree_sha256(join(root, span_folder(n)), client)) for n in sorted(set(numbers)))


def _dirty(labels: dict[str, str]) -> bool | None:
    value = labels.get(DIRTY_LABEL)
    return None if value is None else value == "true"


def build_lineage(
    *,
    run_id: str,
    labels: dict[str, str],
    data_root: str,
    span_numbers: list[int],
    hyperparameters_uri: str,
    evaluation_uri: str,
    client: Any = None,
) -> Lineage:
    """The lineage of the run's model. `client`: the storage client for gs:// artifacts (built when needed)."""
    if client is None and any(gcs.is_gcs(uri) for uri in (data_root, hyperparameters_uri, evaluation_uri)):
        client = gcs.storage_client()
    metrics, baseline = evaluation_metrics(evaluation_uri, client)
    return Lineage(
        pipeline_run_id=run_id,
        **{key: labels[key] for key in LABEL_KEYS if labels.get(key)},
        dirty=_dirty(labels),
        spans=spans(data_root, span_numbers, client),
        parameters=hyperparameters(hyperparameters_uri, client),
        metrics=metrics,
        baseline_metrics=baseline,
    )
