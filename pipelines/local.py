"""Run the training pipeline on the local environment: LocalDagRunner, ML Metadata in SQLite, Beam
DirectRunner, all state under the environment's local root.

The environment's values are the same ones a Vertex run gets at submit time (contracts.environment_parameters),
and the Evaluator's baseline is the registry's champion (MLflow) when the run starts: local runs take turns
(localcloud/run_worker.py), so a queued run is judged against what serves when it trains, not when it queued.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from contracts.config import EnvironmentConfig, LocalPaths
from contracts.environment_parameters import champion_baseline, environment_parameters
from contracts.registry import registry_target
from contracts.run_request import Baseline
from pipelines.local_data import seed_spans
from pipelines.sources import pipeline_sources
from pipelines.staging import stage


@dataclass(frozen=True)
class LocalRun:
    """Everything one local run needs, resolved from the environment config and the command line."""

    config: EnvironmentConfig
    paths: LocalPaths
    num_epochs: int
    learning_rate: float
    enable_cache: bool = True
    # Inclusive span range; 0 and 0 read the newest window (training.window_spans spans).
    span_start: int = 0
    span_end: int = 0
    # Default: a timestamp. Callers that need idempotent submissions pass their own.
    run_id: str = field(default_factory=lambda: datetime.now().strftime("%Y%m%dT%H%M%S.%f"))
    # The run's lineage labels (commit, modules, template, source), recorded with the model version it pushes.
    labels: dict[str, str] = field(default_factory=dict)
    # None by default: DirectRunner's defaults (in memory, one worker) are the fastest on the shipped spans,
    # and any arg makes TFX build a TFX sdist for remote workers in every Beam component. The scale benchmark
    # passes DirectRunner's multi-process options here.
    beam_pipeline_args: tuple[str, ...] = ()
    # What the Evaluator compares against; None: the registry's champion when the run starts.
    baseline: Baseline | None = None


@dataclass(frozen=True)
class PreparedInputs:
    data_root: Path
    preprocessing_module: Path
    model_module: Path
    schema_path: Path
    eval_config: Any


def prepare_inputs(run: LocalRun) -> PreparedInputs:
    """Seed the data area and stage the modules and schema content-addressed under the local root."""
    sources = pipeline_sources(run.config.dataset)
    data_root = run.paths.data_root(run.config.dataset)
    seed_spans(sources.data_dir, data_root)
    staged = run.paths.staged
    return PreparedInputs(
        data_root=data_root,
        # Alone in its folder: Transform's cache key then ignores changes to model.py.
        preprocessing_module=stage(sources.modules_dir / "preprocessing.py", staged / "preprocessing"),
        # The Trainer needs the whole folder (model.py imports preprocessing.py).
        model_module=stage(sources.modules_dir, staged / "modules") / "model.py",
        schema_path=stage(sources.schema_file, staged / "schema"),
        eval_config=sources.definition().eval_config(),
    )


def baseline_of(run: LocalRun) -> Baseline:
    """The run's baseline: the one it was given, else the local registry's champion now (or none)."""
    if run.baseline is not None:
        return run.baseline
    from components.registry import open_registry

    return champion_baseline(open_registry(registry_target(run.config, run.paths.root)))


def build(run: LocalRun):
    """The pipeline object for `run`, with local paths and a SQLite metadata store."""
    from tfx.orchestration import metadata

    from pipelines.pipeline import create_pipeline

    inputs = prepare_inputs(run)
    run.paths.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    baseline = baseline_of(run)
    environment = environment_parameters(run.config, baseline_model=baseline.uri, local_root=run.paths.root)
    return create_pipeline(
        pipeline_name=run.config.pipeline_name,
        pipeline_root=str(run.paths.pipeline_root),
        schema_path=str(inputs.schema_path),
        preprocessing_module=str(inputs.preprocessing_module),
        model_module=str(inputs.model_module),
        eval_config=inputs.eval_config,
        # The run's lineage, and which champion its gate compared against (as a Vertex run's labels say).
        run_labels={**run.labels, "baseline": baseline.label},
        num_epochs=run.num_epochs,
        learning_rate=run.learning_rate,
        span_start=run.span_start,
        span_end=run.span_end,
        **environment,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(run.paths.metadata_path)),
        beam_pipeline_args=run.beam_pipeline_args,
        enable_cache=run.enable_cache,
    )


def _runner(run_id: str):
    """A LocalDagRunner whose pipeline run id is `run_id`, so the run can be found in ML Metadata."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    class NamedRunLocalDagRunner(LocalDagRunner):
        def run_with_ir(self, pipeline, run_options=None, **kwargs):
            # LocalDagRunner only fills in the run id if it is still a placeholder.
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
            )
            return super().run_with_ir(pipeline, run_options=run_options, **kwargs)

    return NamedRunLocalDagRunner()


def execute(run: LocalRun, out: TextIO | None = None):
    """Run the pipeline with progress lines; return its RunSummary (failures are in summary.error)."""
    from pipelines.progress import component_progress

    out = out or sys.stdout
    log_path = run.paths.root / "logs" / f"{run.config.pipeline_name}-{run.run_id}.log"
    print(f"run {run.run_id}, full log: {log_path}", file=out, flush=True)
    with component_progress(log_path, out) as progress:
        progress.note("loading TensorFlow and TFX ...")
        from pipelines.summary import summarize
        from pipelines.tracking import tracked

        # The run as an MLflow run (pipelines/tracking.py), its lineage labels completed from the working tree.
        with tracked(run) as tracking:
            run = tracking.run
            runner = _runner(run.run_id)
            pipeline = build(run)
            node_ids = [component.id for component in pipeline.components]
            progress.note("pipeline built; running")
            error = None
            try:
                runner.run(pipeline)
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
            summary = summarize(run.paths.metadata_path, run.run_id, node_ids)
            summary.error = error
            tracking.finish(summary)
    return summary
