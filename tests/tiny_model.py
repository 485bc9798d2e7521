"""Small real SavedModels with the project's `serving_raw` signature, for tests of what loads a version without
training one (seconds, not a pipeline).

`save_tiny_model`: the penguins' raw features in, species and probabilities out. Its rule: flipper_length_mm >=
206 is a Gentoo, else bill_length_mm >= 44 a Chinstrap, else an Adelie; penguins' smoke records follow it.
`save_tiny_regressor`: the diabetes features in, progression out, linear in the raw features (with the weights
of `diabetes_least_squares`, a model as good as a blessed one; with none, a constant).
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


# The diabetes regressor's raw features and their dtypes (pipelines/diabetes/pipeline.py FEATURES).
DIABETES_FEATURES = {
    "age": "int64",
    "sex": "int64",
    "bmi": "float32",
    "bp": "float32",
    "s1": "int64",
    "s2": "float32",
    "s3": "float32",
    "s4": "float32",
    "s5": "float32",
    "s6": "int64",
}


def diabetes_least_squares() -> tuple[dict[str, float], float]:
    """The weights and bias of a least-squares linear fit of progression on span 1's raw features (numpy, no
    training): a stand-in for a blessed diabetes model (in-sample RMSE ~53, as a trained one's holdout ~54)."""
    import csv

    import numpy as np

    from pipelines.sources import pipeline_sources

    with open(pipeline_sources("diabetes").data_dir / "span-1" / "diabetes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = list(DIABETES_FEATURES)
    x = np.array([[float(row[name]) for name in names] for row in rows])
    y = np.array([float(row["progression"]) for row in rows])
    solution = np.linalg.lstsq(np.c_[x, np.ones(len(y))], y, rcond=None)[0]
    return dict(zip(names, map(float, solution[:-1]), strict=True)), float(solution[-1])


def save_tiny_regressor(path: Path, weights: dict[str, float] | None = None, bias: float = 0.0) -> Path:
    """A SavedModel with the diabetes model's `serving_raw` signature: progression = bias + sum(weight * feature),
    one float32 per instance (no weights: a constant model)."""
    import tensorflow as tf

    specs = {name: tf.TensorSpec([None], getattr(tf, dtype), name=name) for name, dtype in DIABETES_FEATURES.items()}
    weights = weights or {}

    class TinyRegressor(tf.Module):
        @tf.function(input_signature=[specs])
        def serve_raw(self, features):
            total = tf.zeros_like(tf.cast(features["age"], tf.float64)) + bias
            for name, weight in weights.items():
                total += weight * tf.cast(features[name], tf.float64)
            return {"progression": tf.cast(total, tf.float32)}

    module = TinyRegressor()
    tf.saved_model.save(module, str(path), signatures={"serving_raw": module.serve_raw.get_concrete_function()})
    return path
