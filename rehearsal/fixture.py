"""What a pipeline run's Trainer and Evaluator leave for the registry push, made in seconds (TFX environment).

Training is not rehearsed (the e2e tier trains real pipelines), so the push gets stand-ins built here, plainly
not trained models, one folder per pipeline (OUT_DIR/<pipeline>/), each with:
- two SavedModels (`model-a`, `model-b`, different bytes) with the signature the prediction server and the model
  tests use, `serving_raw` (the pipeline's raw features of pipelines/<pipeline>/schema/schema.pbtxt in):
  - penguins: `species` and `probabilities` out, by a fixed rule on flipper and bill length that gets the smoke
    test's shipped records right;
  - diabetes: `progression` out (float32, one per instance), a linear rule whose coefficients are fitted by least
    squares on the shipped span 1 (pipelines/diabetes/data/span-1/) when the fixture is built: within the smoke
    test's bound of its shipped records (pipelines/diabetes/pipeline.py SMOKE_MAX_ABS_ERROR);
- the Evaluator's output: TFMA's metrics file for the overall slice (penguins: sparse_categorical_accuracy;
  diabetes: root_mean_squared_error, mean_absolute_error of the fit on span 1; and example_count);
- the hyperparameters file the Trainer reads.

    python -m rehearsal.fixture OUT_DIR     # in the TFX environment; prints OUT_DIR
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

PIPELINES = ("penguins", "diabetes")
SPECIES = ("Adelie", "Chinstrap", "Gentoo")
PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"
# The diabetes label (pipelines/diabetes/pipeline.py LABEL and PREDICTION_KEY).
PROGRESSION = "progression"


def raw_features(pipeline: str, label: str) -> dict[str, str]:
    """Feature name -> schema type (BYTES, FLOAT, INT) of the pipeline's schema, the label excluded."""
    features = {}
    schema = PIPELINES_DIR / pipeline / "schema" / "schema.pbtxt"
    for block in schema.read_text().split("feature {")[1:]:
        name = re.search(r'name:\s*"([^"]+)"', block)
        kind = re.search(r"\btype:\s*(\w+)", block)
        if name and kind and name.group(1) != label:
            features[name.group(1)] = kind.group(1)
    return features


def _signature(pipeline: str, label: str) -> dict[str, object]:
    import tensorflow as tf

    dtypes = {"BYTES": tf.string, "FLOAT": tf.float32, "INT": tf.int64}
    return {
        name: tf.TensorSpec([None], dtypes[kind], name=name) for name, kind in raw_features(pipeline, label).items()
    }


def build_penguins(folder: Path, flipper_threshold: float) -> None:
    import tensorflow as tf

    spec = _signature("penguins", "species")

    class Rule(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.threshold = tf.Variable(flipper_threshold, dtype=tf.float32)

        @tf.function(input_signature=[spec])
        def serve_raw(self, features):
            flipper = tf.cast(features["flipper_length_mm"], tf.float32)
            bill = tf.cast(features["bill_length_mm"], tf.float32)
            index = tf.where(flipper >= self.threshold, 2, tf.where(bill >= 44.0, 1, 0))
            probabilities = tf.one_hot(index, 3) * 0.9 + 0.1 / 3
            return {"species": tf.gather(tf.constant(SPECIES), index), "probabilities": probabilities}

    module = Rule()
    tf.saved_model.save(module, str(folder), signatures={"serving_raw": module.serve_raw})


def diabetes_span() -> tuple[list[str], list[list[float]], list[float]]:
    """(feature names in the signature's order, their rows, the labels) of the shipped span 1."""
    names = list(raw_features("diabetes", PROGRESSION))
    rows, labels = [], []
    for path in sorted((PIPELINES_DIR / "diabetes" / "data" / "span-1").glob("*.csv")):
        with path.open(newline="") as source:
            for record in csv.DictReader(source):
                rows.append([float(record[name]) for name in names])
                labels.append(float(record[PROGRESSION]))
    return names, rows, labels


def fit_diabetes() -> tuple[list[str], list[float], float, dict[str, float]]:
    """Least squares on span 1: (feature names, their coefficients, the intercept, the fit's metrics on span 1)."""
    import numpy as np

    names, rows, labels = diabetes_span()
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    design = np.hstack([x, np.ones((len(x), 1))])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    errors = design @ solution - y
    metrics = {
        "root_mean_squared_error": float(np.sqrt(np.mean(errors**2))),
        "mean_absolute_error": float(np.mean(np.abs(errors))),
        "example_count": float(len(y)),
    }
    return names, [float(c) for c in solution[:-1]], float(solution[-1]), metrics


def build_diabetes(folder: Path, names: list[str], coefficients: list[float], intercept: float) -> None:
    import tensorflow as tf

    spec = _signature("diabetes", PROGRESSION)

    class Linear(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.coefficients = tf.Variable(coefficients, dtype=tf.float32)
            self.intercept = tf.Variable(intercept, dtype=tf.float32)

        @tf.function(input_signature=[spec])
        def serve_raw(self, features):
            columns = tf.stack([tf.cast(features[name], tf.float32) for name in names], axis=1)
            value = tf.linalg.matvec(columns, self.coefficients) + self.intercept
            return {PROGRESSION: value}

    module = Linear()
    tf.saved_model.save(module, str(folder), signatures={"serving_raw": module.serve_raw})


def write_evaluation(folder: Path, metrics: dict[str, float]) -> None:
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    record = metrics_for_slice_pb2.MetricsForSlice()
    for name, value in metrics.items():
        entry = record.metric_keys_and_values.add()
        entry.key.name = name
        entry.value.double_value.value = value
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())


def write_hyperparameters(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    values = {"values": {"num_epochs": 20, "learning_rate": 0.01}}
    (folder / "hyperparameters.json").write_text(json.dumps(values))


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    penguins = out / "penguins"
    build_penguins(penguins / "model-a" / "Format-Serving", 206.0)
    build_penguins(penguins / "model-b" / "Format-Serving", 207.0)
    write_evaluation(penguins / "evaluation", {"sparse_categorical_accuracy": 0.97, "example_count": 206.0})
    diabetes = out / "diabetes"
    names, coefficients, intercept, metrics = fit_diabetes()
    build_diabetes(diabetes / "model-a" / "Format-Serving", names, coefficients, intercept)
    build_diabetes(diabetes / "model-b" / "Format-Serving", names, coefficients, intercept + 1.0)
    write_evaluation(diabetes / "evaluation", metrics)
    # Written last: each pipeline's hyperparameters file marks its folder complete (rehearsal/run.py).
    for folder in (penguins, diabetes):
        write_hyperparameters(folder / "hyperparameters")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
