"""The TFX training pipeline factory.

Import-pure: `create_pipeline` takes every value as an argument and reads no environment, so local runs,
the Vertex compile and tests all build the same graph from explicit inputs. The run parameters
(`num_epochs`, `learning_rate`, the spans) and the environment parameters (contracts.environment_parameters:
`data_root`, `window_spans`, the gate (`gate_metric`, `gate_direction`, `gate_bound`, `gate_max_regression`),
`registry`, `baseline_model`, `training_config`) may be concrete values or TFX RuntimeParameters: the Vertex
compile makes every one of them a runtime parameter, so one template serves every environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_model_analysis as tfma

# Concrete modules instead of `tfx.v1`: tfx.v1 also imports the Google Cloud extensions (+10 s per process).
from tfx.components import (
    ExampleValidator,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, trainer_pb2

from components.champion_evaluator import ChampionEvaluator
from components.hyperparameters import HyperparametersGen
from components.registry_push import RegistryPush
from components.span_range import SpanRangeGen
from components.validation_gate import ValidationGate
from components.window_example_gen import WindowExampleGen
from contracts.data_layout import SPAN_INPUT_PATTERN
from contracts.registry import RegistryTarget

# Hash-bucketed 2:1 train/eval split: stable for a given row, whatever the file order.
SPLITS = (("train", 2), ("eval", 1))


def example_gen_configs() -> tuple[Any, Any]:
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=SPAN_INPUT_PATTERN)]
    )
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n) for name, n in SPLITS]
        )
    )
    return input_config, output_config


def _trainer(training_config: str | Any | None, training_image: str | None, **trainer_args: Any) -> Trainer:
    """TFX's Trainer in its step, or (with a training_config) a Vertex AI custom job of `training_image`."""
    if training_config is None:
        return Trainer(**trainer_args)
    if not training_image:
        raise ValueError("training_config is set but training_image is not: the custom job needs the template's image")
    # Imported only for a Vertex compile: the extension imports the Vertex client (~10 s per process).
    from components.vertex_trainer import VertexTrainer

    return VertexTrainer(custom_config=training_config, worker_image=training_image, **trainer_args)


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    schema_path: str,
    preprocessing_module: str,
    model_module: str,
    eval_config: tfma.EvalConfig,
    data_root: str | Any,
    registry: RegistryTarget | str | Any,
    num_epochs: int | Any,
    learning_rate: float | Any,
    gate_metric: str | Any,
    gate_direction: str | Any,
    gate_bound: float | Any,
    gate_max_regression: float | Any,
    baseline_model: str | Any,
    span_start: int | Any = 0,
    span_end: int | Any = 0,
    window_spans: int | Any = 1,
    metadata_connection_config: Any = None,
    beam_pipeline_args: Sequence[str] = (),
    training_config: str | Any | None = None,
    training_image: str | None = None,
    enable_cache: bool = True,
    run_labels: Mapping[str, str] | None = None,
) -> tfx_pipeline.Pipeline:
    """Build a training pipeline: the pipeline's own parts are its schema, modules and `eval_config` (what its
    Evaluator computes; pipelines/<name>/pipeline.py), the rest is shared.

    `preprocessing_module` (Transform) and `model_module` (Trainer) are .py files; TFX packages every .py
    file in each one's folder. Pass content-addressed copies, so that a change to the code changes the
    component inputs (and so the cache key), and a folder holding only preprocessing.py, so that a change
    to the model alone does not rerun Transform.

    `span_start`/`span_end`: the spans to read, inclusive, into one Examples artifact
    (<data_root>/span-<N>/*.csv); 0 and 0 read the newest `window_spans` spans (fewer if fewer exist).
    The Evaluator blesses a candidate whose `gate_metric` is at least (`gate_direction` "higher") or at most
    ("lower") `gate_bound` and at most `gate_max_regression` worse than `baseline_model`: the champion's TFX
    Model artifact root when the run was submitted, or "" (no champion: the absolute bound alone). Both compare
    on the window's eval split.
    `registry`: where a blessed model becomes a version (a RegistryTarget, or its JSON); `run_labels`: the
    run's lineage labels (commit, modules, image, template, source) that version records.
    `beam_pipeline_args`: for every Beam component (none: DirectRunner's in-memory defaults); they may hold
    `{{$.inputs.parameters[...]}}` placeholders, which the Vertex compile declares (pipelines/vertex_compile.py).
    `training_config`: the custom_config of TFX's Vertex AI Training extension (JSON, without the image), and
    `training_image` the image its custom job runs; None: the Trainer runs where its step runs.
    """
    if isinstance(registry, str):
        registry = RegistryTarget.model_validate_json(registry)
    input_config, output_config = example_gen_configs()
    spans = SpanRangeGen(span_start=span_start, span_end=span_end, window_spans=window_spans)
    example_gen = WindowExampleGen(
        input_base=data_root,
        input_config=input_config,
        output_config=output_config,
        range_config=spans.outputs["range_config"].future()[0].value,
        window=spans.outputs["window"].future()[0].value,
    )
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = ImportSchemaGen(schema_file=schema_path)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=preprocessing_module,
        # Transform's own pre/post statistics duplicate StatisticsGen and cost a third of its time.
        disable_statistics=True,
    )
    transform.add_upstream_node(gate)
    hyperparameters = HyperparametersGen(num_epochs=num_epochs, learning_rate=learning_rate)
    trainer = _trainer(
        training_config,
        training_image,
        module_file=model_module,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=hyperparameters.outputs["hyperparameters"],
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
    )
    evaluator = ChampionEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=eval_config,
        gate_metric=gate_metric,
        gate_direction=gate_direction,
        gate_bound=gate_bound,
        gate_max_regression=gate_max_regression,
        baseline_model=baseline_model,
        example_splits=["eval"],
    )
    registry_push = RegistryPush(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        examples=example_gen.outputs["examples"],
        hyperparameters=hyperparameters.outputs["hyperparameters"],
        registry=registry,
        labels=dict(run_labels or {}),
        data_root=data_root,
    )
    components = [
        spans,
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        gate,
        transform,
        hyperparameters,
        trainer,
        evaluator,
        registry_push,
    ]
    if beam_pipeline_args:
        # Per Beam component, not pipeline-wide: the Vertex compile would also append pipeline-level Beam
        # args to every non-Beam step's command line (TFX's KubeflowV2 step builder does).
        for component in components:
            if isinstance(component, BaseBeamComponent):
                component.with_beam_pipeline_args(list(beam_pipeline_args))
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
    )
