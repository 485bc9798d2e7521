"""What a local pipeline run did, read back from ML Metadata: per component status, seconds and caching;
evaluation metrics; blessing; the pushed model version."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipelines.outcome import outcome_lines

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}
_OUTPUT = metadata_store_pb2.Event.OUTPUT
PUSH_NODE = "RegistryPush"


@dataclass
class ComponentRun:
    node_id: str
    status: str  # complete | cached | resolved | failed | running | canceled | not run
    seconds: float | None = None


@dataclass
class RunSummary:
    run_id: str
    components: list[ComponentRun]
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    blessed: bool | None = None
    validation_failures: list[str] = field(default_factory=list)
    pushed_version: str | None = None
    pushed_path: str | None = None
    # False when the push was cached or found the same files registered: an earlier run pushed the version.
    pushed_by_this_run: bool = False
    # What auto-promotion did: "champion", "not promoted: <why>", or None (not attempted).
    promotion: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and all(c.status in ("complete", "cached", "resolved") for c in self.components)

    @property
    def all_cached(self) -> bool:
        """Every component was served from cache (resolvers, which only look up inputs, aside)."""
        return all(c.status in ("cached", "resolved") for c in self.components)


def open_store(metadata_path: Path) -> mlmd.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def _outputs(store: mlmd.MetadataStore, execution_id: int, type_name: str) -> list[metadata_store_pb2.Artifact]:
    ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id]) if e.type == _OUTPUT]
    artifact_type = store.get_artifact_type(type_name)
    return [a for a in store.get_artifacts_by_id(ids) if a.type_id == artifact_type.id]


def _custom(artifact: metadata_store_pb2.Artifact, key: str) -> int | str | None:
    value = artifact.custom_properties.get(key)
    if value is None:
        return None
    return value.int_value if value.HasField("int_value") else value.string_value


def summarize(metadata_path: Path, run_id: str, node_ids: list[str]) -> RunSummary:
    """Summarize pipeline run `run_id`, listing components in `node_ids` order."""
    store = open_store(metadata_path)
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run is None:
        return RunSummary(run_id=run_id, components=[ComponentRun(n, "not run") for n in node_ids])
    by_node: dict[str, metadata_store_pb2.Execution] = {}
    for execution in store.get_executions_by_context(run.id):
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.type == "node":
                by_node[ctx.name.split(".", 1)[-1]] = execution
    summary = RunSummary(run_id=run_id, components=[])
    for node_id in node_ids:
        execution = by_node.get(node_id)
        if execution is None:
            summary.components.append(ComponentRun(node_id, "not run"))
            continue
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        status = _STATES.get(execution.last_known_state, "unknown")
        if status == "complete" and execution.type.endswith(".Resolver"):
            status = "resolved"  # A resolver looks up inputs afresh every run; it has nothing to cache.
        summary.components.append(ComponentRun(node_id, status, seconds))
    if "Evaluator" in by_node:
        _read_evaluation(store, by_node["Evaluator"], summary)
    if PUSH_NODE in by_node:
        _read_push(store, by_node[PUSH_NODE], summary)
    return summary


def _read_evaluation(store, execution, summary: RunSummary) -> None:
    import tensorflow_model_analysis as tfma  # Heavy: only when there is an evaluation to read.

    for blessing in _outputs(store, execution.id, "ModelBlessing"):
        summary.blessed = _custom(blessing, "blessed") == 1
    for evaluation in _outputs(store, execution.id, "ModelEvaluation"):
        for slice_metrics in tfma.load_metrics(evaluation.uri):
            if slice_metrics.slice_key.single_slice_keys:
                continue  # Only the overall slice.
            for kv in slice_metrics.metric_keys_and_values:
                if kv.key.HasField("aggregation_type") or kv.key.HasField("sub_key") or kv.key.is_diff:
                    continue  # Overall metrics only: per-class ones (a sub_key) are in the run's MLflow record.
                if not kv.value.HasField("double_value"):
                    continue
                target = summary.baseline_metrics if kv.key.model_name == "baseline" else summary.metrics
                target[kv.key.name] = kv.value.double_value.value
        validations = os.path.join(evaluation.uri, "validations.tfrecord")
        if os.path.exists(validations):
            result = tfma.load_validation_result(evaluation.uri)
            for per_slice in result.metric_validations_per_slice:
                summary.validation_failures.extend(describe_failure(f) for f in per_slice.failures)


def describe_failure(failure) -> str:
    """A tfma ValidationFailure as one line: which check, the value, and the bound it missed."""
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        bound = threshold.change_threshold.absolute.value
        return f"no-regression: {name} changed by {value:+.4f} against the baseline (allowed: >= {bound:+.4f})"
    bound = threshold.value_threshold.lower_bound.value
    return f"absolute bound: {name} is {value:.4f} (required: >= {bound:.4f})"


def _read_push(store, execution, summary: RunSummary) -> None:
    for pushed in _outputs(store, execution.id, "PushedModel"):
        if _custom(pushed, "pushed") == 1:
            summary.pushed_version = str(_custom(pushed, "pushed_version"))
            summary.pushed_path = str(_custom(pushed, "pushed_destination"))
            ran = execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
            summary.pushed_by_this_run = ran and _custom(pushed, "registered") == 1
            promotion = _custom(pushed, "promotion")
            summary.promotion = str(promotion) if promotion else None


def render(summary: RunSummary) -> str:
    lines = [f"run {summary.run_id}", f"  {'component':<32}{'status':<10}{'seconds':>8}"]
    for c in summary.components:
        seconds = f"{c.seconds:8.1f}" if c.seconds is not None else f"{'-':>8}"
        lines.append(f"  {c.node_id:<32}{c.status:<10}{seconds}")
    lines.extend(outcome_lines(summary))
    if summary.error:
        lines.append(f"FAILED: {summary.error}")
    return "\n".join(lines)
