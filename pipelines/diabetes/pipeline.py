"""What the diabetes pipeline is: a regression of disease progression one year on from ten baseline measurements
(scikit-learn's copy of the diabetes data of Efron et al., 2004).

Its parts are in this folder (pipelines/sources.py): data/ (span 1, how it was derived, its source),
schema/schema.pbtxt, modules/ (preprocessing.py for Transform, model.py for the Trainer) and model_tests/ (the
records its smoke test predicts, judged by SMOKE_MAX_ABS_ERROR here). Plain constants and `eval_config()`
only; TFMA is imported when the eval_config is built.
"""

from __future__ import annotations

from typing import Any

NAME = "diabetes"
TASK = "regression"
# The raw label column (data, schema) and its transformed key (the Trainer's label, the Evaluator's label_key).
LABEL = "progression"
LABEL_XF = "progression_xf"
# The raw features, in the CSV's order: the `serving_raw` signature takes exactly these (age, sex and s1, s6
# as int64, the others float32) and returns PREDICTION_KEY.
FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
# The output of `serving_raw` (one float32 per instance, in the label's unit) and of `serving_default` ([n, 1]).
PREDICTION_KEY = "progression"
RAW_SIGNATURE = "serving_raw"
# The metrics the Evaluator computes for every slice; an environment's gate names one of them (evaluation.metric:
# RootMeanSquaredError, lower is better).
METRICS = ("RootMeanSquaredError", "MeanAbsoluteError", "ExampleCount")
# The smoke test (release/model_tests/smoke.py): every prediction on model_tests/smoke_records.json within this
# of its label. The records are eight rows of span 1 with progression from 47 to 263 (3 low, 2 middle, 3
# high), each one a least-squares linear fit of span 1 misses by under 20 in every one of 50 random 2:1
# splits. A blessed model is such a fit, trained (holdout RMSE ~54, MAE ~44, its large errors on other, harder
# rows): modules/model.py trained 20 epochs on two thirds of span 1 misses these by 12 at most, so 50 leaves
# room for any blessed model. No constant model can pass, whatever its constant: none is within
# 50 of both 47 and 263 (the mean, 152, misses six of the eight by 75 to 111); nor can one answering in
# another unit (z-scores, near 0: off by 77 to 263 on all but the two lowest) or NaN.
SMOKE_MAX_ABS_ERROR = 50.0


def eval_config() -> Any:
    """What the Evaluator computes: the label comes from the model's own `transform_features` signature."""
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
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=name) for name in METRICS])],
    )
