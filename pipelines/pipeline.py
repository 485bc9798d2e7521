"""The TFX training pipeline factory.

Import-pure: `create_pipeline` takes every value as an argument and reads no environment, so local runs,
the Vertex compile and tests all build the same graph from explicit inputs. `num_epochs` and
`learning_rate` may be concrete values or TFX RuntimeParameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_model_analysis as tfma

# Concrete modules instead of `tfx.v1`: tfx.v1 also imports the Google Cloud extensions (+10 s per process).
from tfx.components import (
    Evaluator,
    ExampleValidator,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, trainer_pb2

from components.baseline_resolver import baseline_resolver, latest_blessed_resolver
from components.hyperparameters import HyperparametersGen
from components.registry_push import RegistryPush
from components.span_range import SpanRangeGen
from components.validation_gate import ValidationGate
from components.window_example_gen import SPAN_PATTERN, WindowExampleGen
from contracts.registry import RegistryTarget

LABEL_XF = "species_xf"
# The label's classes by class id: pipelines/modules/preprocessing.py LABELS, restated because the image holds
# no modules (a unit test keeps the two equal).
CLASSES = ("Adelie", "Chinstrap", "Gentoo")
ACCURACY = "sparse_categorical_accuracy"
# Hash-bucketed 2:1 train/eval split: stable for a given row, whatever the file order.
SPLITS = (("train", 2), ("eval", 1))


def eval_config(min_accuracy: float, max_accuracy_drop: float) -> tfma.EvalConfig:
    """Bless a model only above an absolute accuracy AND without regressing against the baseline."""
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            # A strictly negative bound: equal accuracy is not a regression.
            absolute={"value": -max_accuracy_drop - 1e-10},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=LABEL_XF,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=threshold),
                    tfma.MetricConfig(class_name="ExampleCount"),
                ]
            ),
            # Per class (one-vs-rest), for the record (the MLflow run of a local run); no threshold on them.
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name="Precision"), tfma.MetricConfig(class_name="Recall")],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(len(CLASSES)))}),
            ),
        ],
    )


def example_gen_configs() -> tuple[Any, Any]:
    input_config = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=SPAN_PATTERN)]
    )
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n) for name, n in SPLITS]
        )
    )
    return input_config, output_config


def _trainer_class(on_vertex: bool) -> type[Trainer]:
    """TFX's Trainer, or its Vertex AI Training extension: the same component, launched as a custom job."""
    if not on_vertex:
        return Trainer
    # Imported only for a Vertex compile: the extension imports the Vertex client (~10 s per process).
    from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer as VertexTrainer

    return VertexTrainer


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_path: str,
    preprocessing_module: str,
    model_module: str,
    registry: RegistryTarget,
    num_epochs: int | Any,
    learning_rate: float | Any,
    min_accuracy: float,
    max_accuracy_drop: float,
    span_start: int | Any = 0,
    span_end: int | Any = 0,
    window_spans: int = 1,
    baseline: str = "candidate",
    metadata_connection_config: Any = None,
    beam_pipeline_args: Sequence[str] = (),
    vertex_training: Mapping[str, Any] | None = None,
    enable_cache: bool = True,
    run_labels: Mapping[str, str] | None = None,
) -> tfx_pipeline.Pipeline:
    """Build the penguins training pipeline.

    `preprocessing_module` (Transform) and `model_module` (Trainer) are .py files; TFX packages every .py
    file in each one's folder. Pass content-addressed copies, so that a change to the code changes the
    component inputs (and so the cache key), and a folder holding only preprocessing.py, so that a change
    to the model alone does not rerun Transform.

    `span_start`/`span_end` (values or RuntimeParameters): the spans to read, inclusive, into one Examples
    artifact (<data_root>/span-<N>/*.csv); 0 and 0 read the newest `window_spans` spans (fewer if fewer
    exist). The Evaluator compares candidate and baseline on that artifact's eval split.
    `baseline`: "candidate" (the champion older than the candidate: identical reruns stay fully cached) or
    "latest-blessed" (TFX's built-in strategy, the one Vertex AI Pipelines supports).
    `registry`: where a blessed model becomes a version; `run_labels`: the run's lineage labels (commit,
    modules, image, template, source) that version records.
    `beam_pipeline_args`: for every Beam component (none: DirectRunner's in-memory defaults).
    `vertex_training`: the custom_config of TFX's Vertex AI Training extension (pipelines/cloud_engines.py);
    the Trainer then runs as a Vertex AI custom job. None: the Trainer runs where its step runs.
    """
    if baseline not in ("candidate", "latest-blessed"):
        raise ValueError(f"baseline: expected 'candidate' or 'latest-blessed', got {baseline!r}")
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
    trainer = _trainer_class(vertex_training is not None)(
        module_file=model_module,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=hyperparameters.outputs["hyperparameters"],
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config=dict(vertex_training) if vertex_training is not None else None,
    )
    resolver = baseline_resolver(trainer.outputs["model"]) if baseline == "candidate" else latest_blessed_resolver()
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"],
        example_splits=["eval"],
        eval_config=eval_config(min_accuracy, max_accuracy_drop),
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
        resolver,
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
