"""What the penguins pipeline is: a classifier of a penguin's species from its measurements (Palmer penguins).

Its parts are in this folder (pipelines/sources.py): data/ (span 1, how it was derived, its licence),
schema/schema.pbtxt, modules/ (preprocessing.py for Transform, model.py for the Trainer) and model_tests/ (the
records its smoke test predicts, judged by the SMOKE_ constants here). Plain constants
and `eval_config()` only; TFMA is imported when the eval_config is built, so the data check and the
registry can read the rest without it.
"""

from __future__ import annotations

from typing import Any

NAME = "penguins"
TASK = "classification"
# The raw label column (data, schema, and the key `serving_raw` answers with) and its transformed key (the
# Trainer's label, the Evaluator's label_key).
LABEL = "species"
LABEL_XF = "species_xf"
# The label's classes by class id: modules/preprocessing.py LABELS, restated because the pipeline image holds
# no modules (a unit test keeps the two equal).
CLASSES = ("Adelie", "Chinstrap", "Gentoo")
# The metrics the Evaluator computes for every slice; an environment's gate names one of them (evaluation.metric).
METRICS = ("SparseCategoricalAccuracy", "ExampleCount")
# The other output of `serving_raw`: one probability per class of CLASSES, in that order.
PROBABILITIES = "probabilities"
# The smoke test (release/model_tests/smoke.py) on model_tests/smoke_records.json, two typical penguins of each
# species from span 1: a blessed model (accuracy >= 0.9) gets them right, so at least this many must be, and
# every answer's PROBABILITIES must be a distribution over CLASSES.
SMOKE_MIN_CORRECT = 5


def eval_config() -> Any:
    """What the Evaluator computes; the gate on one of METRICS comes with the run (components/champion_evaluator.py)."""
    import tensorflow_model_analysis as tfma

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
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=name) for name in METRICS]),
            # Per class (one-vs-rest), for the record (the MLflow run of a local run); no threshold on them.
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name="Precision"), tfma.MetricConfig(class_name="Recall")],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(len(CLASSES)))}),
            ),
        ],
    )
