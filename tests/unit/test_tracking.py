"""How a local run's Evaluator output becomes MLflow metrics (pipelines/tracking.py): overall by name, per class
as <metric>.<species>, the baseline's overall as baseline.<name>; diffs and the baseline's per-class ones left
out. The class names the pipeline restates are the modules' own label order."""

from __future__ import annotations

import pytest

from pipelines.penguins.modules import preprocessing
from pipelines.penguins.pipeline import CLASSES
from pipelines.tracking import evaluation_metrics

pytestmark = pytest.mark.slow  # TensorFlow and TFMA: seconds


def write_metrics(folder, values):
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as m

    record = m.MetricsForSlice(slice_key=m.SliceKey())
    for name, number, model_name, class_id, is_diff in values:
        key = m.MetricKey(name=name, model_name=model_name, is_diff=is_diff)
        if class_id is not None:
            key.sub_key.class_id.value = class_id
        record.metric_keys_and_values.add(key=key, value=m.MetricValue(double_value={"value": number}))
    sliced = m.MetricsForSlice(slice_key=m.SliceKey(single_slice_keys=[m.SingleSliceKey(column="island")]))
    sliced.metric_keys_and_values.add(key=m.MetricKey(name="accuracy"), value=m.MetricValue(double_value={"value": 0}))
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())
        writer.write(sliced.SerializeToString())


def test_metric_names_follow_the_class_and_the_model(tmp_path):
    write_metrics(
        tmp_path,
        [
            ("sparse_categorical_accuracy", 0.97, "candidate", None, False),
            ("sparse_categorical_accuracy", 0.95, "baseline", None, False),
            ("sparse_categorical_accuracy", 0.02, "candidate", None, True),
            ("example_count", 103, "candidate", None, False),
            ("precision", 0.9, "candidate", 2, False),
            ("recall", 0.8, "candidate", 0, False),
            ("recall", 0.7, "baseline", 0, False),
            ("recall", 0.5, "candidate", 7, False),
        ],
    )
    assert evaluation_metrics(str(tmp_path), CLASSES) == {
        "sparse_categorical_accuracy": 0.97,
        "baseline.sparse_categorical_accuracy": 0.95,
        "example_count": 103,
        "precision.Gentoo": 0.9,
        "recall.Adelie": 0.8,
        "recall.class_7": 0.5,
    }


def test_the_pipelines_classes_are_the_modules_label_order():
    assert CLASSES == preprocessing.LABELS
