"""tf.Transform preprocessing for the penguins model.

This folder (pipelines/penguins/modules/) is shipped on its own by the fast "modules" workflow. TFX packages every
.py file here as a top-level module, so this file imports nothing from the repository.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

LABEL_KEY = "species"
# Fixed label order, so a class id means the same species in every model, whatever the data's frequencies.
LABELS = ("Adelie", "Chinstrap", "Gentoo")
NUMERIC_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
CATEGORICAL_FEATURES = ("island", "sex")
# One bucket for values the vocabulary has not seen (a new island), instead of an error at serving time.
NUM_OOV_BUCKETS = 1


def transformed_name(key: str) -> str:
    return f"{key}_xf"


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Scale numeric features to z-scores, index categorical ones, and map the label to a class id."""
    outputs = {}
    for key in NUMERIC_FEATURES:
        outputs[transformed_name(key)] = tft.scale_to_z_score(tf.cast(inputs[key], tf.float32))
    for key in CATEGORICAL_FEATURES:
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            tf.strings.strip(inputs[key]), num_oov_buckets=NUM_OOV_BUCKETS, vocab_filename=key
        )
    if LABEL_KEY in inputs:
        # The schema restricts species to LABELS, so ExampleValidator stops unknown values before this runs.
        labels = tf.constant(LABELS)
        matches = tf.equal(tf.expand_dims(inputs[LABEL_KEY], -1), labels)
        outputs[transformed_name(LABEL_KEY)] = tf.argmax(tf.cast(matches, tf.int64), axis=-1)
    return outputs
