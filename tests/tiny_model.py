"""A small real SavedModel with the project's `serving_raw` signature (the penguins' raw features in, species
and probabilities out), for tests of what loads a version without training one (seconds, not a pipeline).

Its rule: flipper_length_mm >= 206 is a Gentoo, else bill_length_mm >= 44 a Chinstrap, else an Adelie; the
smoke test's shipped records follow it.
"""

from __future__ import annotations

from pathlib import Path

LABELS = ("Adelie", "Chinstrap", "Gentoo")
FEATURES = {
    "island": "string",
    "bill_length_mm": "float32",
    "bill_depth_mm": "float32",
    "flipper_length_mm": "int64",
    "body_mass_g": "int64",
    "sex": "string",
}


def save_tiny_model(path: Path, flipper_bound: int = 206) -> Path:
    """Write the SavedModel to `path` (a Format-Serving folder); `flipper_bound` changes its bytes and rule."""
    import tensorflow as tf

    specs = {name: tf.TensorSpec([None], getattr(tf, dtype), name=name) for name, dtype in FEATURES.items()}

    class Tiny(tf.Module):
        @tf.function(input_signature=[specs])
        def serve_raw(self, features):
            gentoo = features["flipper_length_mm"] >= flipper_bound
            chinstrap = tf.logical_and(tf.logical_not(gentoo), features["bill_length_mm"] >= 44.0)
            index = tf.where(gentoo, 2, tf.where(chinstrap, 1, 0))
            probabilities = tf.one_hot(index, len(LABELS)) * 0.98 + 0.02 / len(LABELS)
            return {"probabilities": probabilities, "species": tf.gather(tf.constant(LABELS), index)}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_raw": module.serve_raw.get_concrete_function()})
    return path
