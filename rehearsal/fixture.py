"""What a pipeline run's Trainer and Evaluator leave for the registry push, made in seconds (TFX environment).

Training is not rehearsed (the e2e tier trains real pipelines), so the push gets stand-ins built here, plainly
not trained models:
- two SavedModels (`a`, `b`, different bytes) with the signature the prediction server and the smoke test use,
  `serving_raw` (the raw penguin features of pipelines/penguins/schema/schema.pbtxt in, `species` and `probabilities`
  out), answering by a fixed rule on flipper and bill length that gets the smoke test's shipped records right;
- the Evaluator's output: TFMA's metrics file for the overall slice (sparse_categorical_accuracy, example_count);
- the hyperparameters file the Trainer reads.

    python -m rehearsal.fixture OUT_DIR     # in the TFX environment; prints OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
SCHEMA = Path(__file__).resolve().parent.parent / "pipelines" / "penguins" / "schema" / "schema.pbtxt"


def raw_features() -> dict[str, str]:
    """Feature name -> schema type (BYTES, FLOAT, INT), the label excluded."""
    features = {}
    for block in SCHEMA.read_text().split("feature {")[1:]:
        name = re.search(r'name:\s*"([^"]+)"', block)
        kind = re.search(r"\btype:\s*(\w+)", block)
        if name and kind and name.group(1) != "species":
            features[name.group(1)] = kind.group(1)
    return features


def build_model(folder: Path, flipper_threshold: float) -> None:
    import tensorflow as tf

    dtypes = {"BYTES": tf.string, "FLOAT": tf.float32, "INT": tf.int64}
    spec = {name: tf.TensorSpec([None], dtypes[kind], name=name) for name, kind in raw_features().items()}

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


def write_evaluation(folder: Path, accuracy: float) -> None:
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    record = metrics_for_slice_pb2.MetricsForSlice()
    for name, value in (("sparse_categorical_accuracy", accuracy), ("example_count", 206.0)):
        entry = record.metric_keys_and_values.add()
        entry.key.name = name
        entry.value.double_value.value = value
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:])[0])
    build_model(out / "model-a" / "Format-Serving", 206.0)
    build_model(out / "model-b" / "Format-Serving", 207.0)
    write_evaluation(out / "evaluation", 0.97)
    (out / "hyperparameters").mkdir(parents=True, exist_ok=True)
    values = {"values": {"num_epochs": 20, "learning_rate": 0.01}}
    (out / "hyperparameters" / "hyperparameters.json").write_text(json.dumps(values))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
