"""tf.Transform preprocessing for the diabetes model.

This folder (pipelines/diabetes/modules/) is shipped like pipelines/modules/: TFX packages every .py file
here as a top-level module, so this file imports nothing from the repository.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

LABEL_KEY = "progression"
# Every raw feature is a number (pipelines/diabetes/schema/schema.pbtxt). sex is coded 1 or 2: its z-score
# takes two values, an encoding as good as a one-hot column for a model that is linear in its inputs.
NUMERIC_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def transformed_name(key: str) -> str:
    return f"{key}_xf"


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Scale every feature to a z-score, and pass the label on as a float (in its own unit, not scaled)."""
    outputs = {}
    for key in NUMERIC_FEATURES:
        outputs[transformed_name(key)] = tft.scale_to_z_score(tf.cast(inputs[key], tf.float32))
    if LABEL_KEY in inputs:
        # Unscaled, so TFMA's errors (RootMeanSquaredError) are in the label's unit; the model rescales its
        # output itself (model.py).
        outputs[transformed_name(LABEL_KEY)] = tf.cast(inputs[LABEL_KEY], tf.float32)
    return outputs
