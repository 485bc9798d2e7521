"""Each local pipeline run as an MLflow run, in the registry's MLflow store (`mlflow ui` shows it).

    experiment   the pipeline's name (the registered model's name)
    run name     the pipeline run id (also the tag pipeline_run_id, by which a version finds its run)
    tags         the lineage: commit, dirty, modules, template, source (and MLflow's mlflow.source.git.commit)
    parameters   the hyperparameters and the requested span range; at the end the spans actually read
    metrics      the Evaluator's: overall (sparse_categorical_accuracy, example_count), per class
                 (precision.Gentoo, recall.Adelie, ...) and the baseline's overall (baseline.<name>)
    at the end   blessed, the version registered (the registry links the version to this run), the outcome
                 as the run's note, status FINISHED or FAILED

The lineage labels a run was given (by release.submit, the data check, the trigger function) are kept;
what they lack (a run started by `nox -s pipeline` has none) is filled from the working tree the run stages
its modules from (pipelines/worktree.py), and shortened hashes are completed where they agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.registry.mlflow_runs import PIPELINE_RUN_TAG, experiment_id
from contracts.registry import registry_target

if TYPE_CHECKING:
    from pipelines.local import LocalRun
    from pipelines.summary import RunSummary

_LINEAGE_TAGS = ("commit", "dirty", "modules", "template", "source", "trigger")
_SOURCE_NAME = "pipelines.local (TFX LocalDagRunner)"


def with_worktree_lineage(labels: dict[str, str], pipeline: str) -> dict[str, str]:
    """`labels` with commit, dirty and `pipeline`'s modules of the working tree where missing or shortened."""
    from pipelines.worktree import working_tree_lineage

    tree = working_tree_lineage(pipeline)
    known = {
        "commit": None if tree.commit == "unknown" else tree.commit,
        "modules": tree.modules_sha256,
        "dirty": None if tree.dirty is None else str(tree.dirty).lower(),
    }
    filled = dict(labels)
    for key, value in known.items():
        given = filled.get(key)
        if value and (not given or (key != "dirty" and value.startswith(given))):
            filled[key] = value
    return filled


@dataclasses.dataclass
class TrackedRun:
    """The MLflow run of one pipeline run; `run` is the LocalRun with its lineage labels completed."""

    client: Any
    run_id: str
    run: LocalRun
    finished: bool = False

    def finish(self, summary: RunSummary) -> None:
        """Record what the pipeline run produced and end the MLflow run (FINISHED, or FAILED)."""
        from mlflow.entities import Metric, Param, RunTag

        from pipelines.outcome import outcome_lines
        from pipelines.sources import pipeline_sources

        outputs = _RunOutputs(self.run.paths.metadata_path, self.run.run_id)
        definition = pipeline_sources(self.run.config.dataset).definition()
        metrics = outputs.metrics(tuple(getattr(definition, "CLASSES", ())))
        now = _millis()
        tags = {"mlflow.note.content": "\n".join(outcome_lines(summary))}
        if summary.blessed is not None:  # None: the run stopped before the Evaluator decided.
            tags["blessed"] = str(summary.blessed).lower()
        if summary.pushed_version:
            tags["registered_version"] = summary.pushed_version
        spans = outputs.spans()
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(name, value, now, 0) for name, value in sorted(metrics.items())],
            params=[Param("spans", ",".join(str(n) for n in spans))] if spans else [],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        self.client.set_terminated(self.run_id, "FINISHED" if summary.succeeded else "FAILED")
        self.finished = True


@contextmanager
def tracked(run: LocalRun) -> Iterator[TrackedRun]:
    """Start the MLflow run of `run`; the caller calls `finish` with the summary. Anything else ends it FAILED."""
    from mlflow.entities import Param

    from components.registry.mlflow_store import MlflowRegistry

    labels = with_worktree_lineage(run.labels, run.config.dataset)
    registry = MlflowRegistry(registry_target(run.config, run.paths.root))
    client = registry.client()
    experiment = experiment_id(client, registry.name, Path(registry.root) / "mlruns")
    tags = {key: labels[key] for key in _LINEAGE_TAGS if labels.get(key)}
    tags.update({PIPELINE_RUN_TAG: run.run_id, "mlflow.source.name": _SOURCE_NAME, "mlflow.source.type": "LOCAL"})
    if "commit" in tags:
        tags["mlflow.source.git.commit"] = tags["commit"]
    created = client.create_run(experiment, run_name=run.run_id, tags=tags)
    params = {
        "num_epochs": run.num_epochs,
        "learning_rate": run.learning_rate,
        "span_start": run.span_start,
        "span_end": run.span_end,
        "window_spans": run.config.training.window_spans,
    }
    client.log_batch(created.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    tracking = TrackedRun(client, created.info.run_id, dataclasses.replace(run, labels=labels))
    try:
        yield tracking
    finally:
        if not tracking.finished:
            client.set_terminated(tracking.run_id, "FAILED")


def _millis() -> int:
    import time

    return int(time.time() * 1000)


class _RunOutputs:
    """The outputs of one pipeline run's components, read from ML Metadata (cached executions included)."""

    def __init__(self, metadata_path: Path, pipeline_run_id: str) -> None:
        from pipelines.summary import open_store

        self._store = open_store(metadata_path)
        self._run = self._store.get_context_by_type_and_name("pipeline_run", pipeline_run_id)

    def _artifacts(self, type_name: str) -> list[Any]:
        from ml_metadata import errors
        from ml_metadata.proto import metadata_store_pb2

        if self._run is None:
            return []
        store = self._store
        try:
            wanted = store.get_artifact_type(type_name).id
        except errors.NotFoundError:
            return []  # No run in this store got that far yet (e.g. the first run stopped at data validation).
        executions = [e.id for e in store.get_executions_by_context(self._run.id)]
        events = store.get_events_by_execution_ids(executions)
        ids = sorted({e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT})
        return [a for a in store.get_artifacts_by_id(ids) if a.type_id == wanted]

    def spans(self) -> list[int]:
        """The spans the run's examples came from (WindowExampleGen's `spans`, else ExampleGen's `span`)."""
        found: set[int] = set()
        for examples in self._artifacts("Examples"):
            props = examples.custom_properties
            if "spans" in props:
                found.update(int(n) for n in props["spans"].string_value.split(",") if n)
            elif "span" in props:
                found.add(int(props["span"].int_value))
        return sorted(found)

    def metrics(self, classes: tuple[str, ...] = ()) -> dict[str, float]:
        """The Evaluator's metrics of the overall slice: candidate, per class (`classes` by id), and the baseline's."""
        found: dict[str, float] = {}
        for evaluation in self._artifacts("ModelEvaluation"):
            found.update(evaluation_metrics(evaluation.uri, classes))
        return found


def evaluation_metrics(evaluation_uri: str, classes: tuple[str, ...] = ()) -> dict[str, float]:
    """MLflow metric names and values of a TFMA output: `<name>`, `<name>.<class>` (`classes` by class id, a
    classifier's), `baseline.<name>`."""
    import tensorflow_model_analysis as tfma

    found: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue  # Only the overall slice.
        for kv in slice_metrics.metric_keys_and_values:
            key = kv.key
            if key.HasField("aggregation_type") or key.is_diff or not kv.value.HasField("double_value"):
                continue
            name = key.name
            if key.HasField("sub_key"):
                if key.model_name == "baseline" or not key.sub_key.HasField("class_id"):
                    continue
                class_id = key.sub_key.class_id.value
                name = f"{name}.{classes[class_id] if class_id < len(classes) else f'class_{class_id}'}"
            elif key.model_name == "baseline":
                name = f"baseline.{name}"
            found[name] = kv.value.double_value.value
    return found
