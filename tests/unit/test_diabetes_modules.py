"""The diabetes modules on span 1: tf.Transform (Beam, in memory) on a 2:1 split, then the Trainer's `run_fn`
on the transformed rows, and the exported signatures the Evaluator (TFMA) and the prediction server call."""

import csv
import math
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.components.util import tfxio_utils
from tfx.proto import example_gen_pb2

from pipelines.diabetes import pipeline as diabetes_pipeline
from pipelines.diabetes.modules import model as diabetes_model
from pipelines.diabetes.modules import preprocessing
from pipelines.sources import pipeline_sources

SOURCES = pipeline_sources("diabetes")
CSV = SOURCES.data_dir / "span-1" / "diabetes.csv"
SCHEMA = SOURCES.schema_file
RMSE_KEY = "root_mean_squared_error"
# Few epochs keep the test short; the pipeline's default is 20.
HYPERPARAMETERS = {"values": {"num_epochs": 10, "learning_rate": 0.01}}
INT_FEATURES = {"age", "sex", "s1", "s6"}


def _feature_spec() -> tuple[schema_pb2.Schema, dict]:
    schema = text_format.Parse(SCHEMA.read_text(), schema_pb2.Schema())
    return schema, schema_utils.schema_as_feature_spec(schema).feature_spec


def _split() -> tuple[list[dict], list[dict]]:
    """Span 1's rows as tf.Transform instances: every third row held out, the others for training."""
    _, spec = _feature_spec()
    with CSV.open(newline="") as f:
        rows = [
            {key: [int(value) if spec[key].dtype == tf.int64 else float(value)] for key, value in row.items()}
            for row in csv.DictReader(f)
        ]
    return [r for i, r in enumerate(rows) if i % 3 != 2], [r for i, r in enumerate(rows) if i % 3 == 2]


def _write_examples(rows: list[dict], path: Path) -> None:
    """Transformed rows (all float) as gzipped tf.Examples, as Transform writes them."""
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in rows:
            features = {
                key: tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(value)))
                for key, value in row.items()
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def _serialized(rows: list[dict]) -> list[bytes]:
    """Raw rows as the serialized tf.Examples ExampleGen writes (what the Evaluator feeds serving_default)."""

    def feature(value):
        if isinstance(value[0], int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=value))
        return tf.train.Feature(float_list=tf.train.FloatList(value=value))

    return [
        tf.train.Example(
            features=tf.train.Features(feature={key: feature(value) for key, value in row.items()})
        ).SerializeToString()
        for row in rows
    ]


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def transformed(workdir):
    """Analyze on the training rows only (as Transform does on the train split), transform both."""
    schema, _ = _feature_spec()
    train, holdout = _split()
    metadata = dataset_metadata.DatasetMetadata(schema)
    transform_dir = workdir / "transform"
    with tft_beam.Context(temp_dir=str(workdir / "tft-tmp")):
        (train_xf, _), transform_fn = (train, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn, output_record_batches=False
        )
        holdout_xf, _ = ((holdout, metadata), transform_fn) | tft_beam.TransformDataset(output_record_batches=False)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
    metadata_io.write_metadata(metadata, str(transform_dir / tft.TFTransformOutput.RAW_METADATA_DIR))
    return types.SimpleNamespace(
        train=train, holdout=holdout, train_xf=train_xf, holdout_xf=holdout_xf, transform_dir=transform_dir
    )


@pytest.fixture(scope="module")
def trained(workdir, transformed):
    """run_fn as the TFX Trainer calls it, reading the transformed examples through TFXIO."""
    _write_examples(transformed.train_xf, workdir / "xf" / "train" / "data.gz")
    _write_examples(transformed.holdout_xf, workdir / "xf" / "eval" / "data.gz")

    def tf_dataset_factory(file_pattern, options, schema):
        return tfxio_utils.make_tfxio(
            file_pattern=file_pattern,
            telemetry_descriptors=["test"],
            payload_format=example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE,
            schema=schema,
        ).TensorFlowDataset(options)

    fn_args = types.SimpleNamespace(
        hyperparameters=HYPERPARAMETERS,
        transform_output=str(transformed.transform_dir),
        train_files=[str(workdir / "xf" / "train" / "*")],
        eval_files=[str(workdir / "xf" / "eval" / "*")],
        data_accessor=types.SimpleNamespace(tf_dataset_factory=tf_dataset_factory),
        serving_model_dir=str(workdir / "serving_model"),
    )
    diabetes_model.run_fn(fn_args)
    return fn_args.serving_model_dir


@pytest.fixture(scope="module")
def loaded(trained):
    return tf.saved_model.load(trained)


def _predict(signature, rows) -> np.ndarray:
    """serving_raw on raw rows: one tensor per feature, typed as the signature says (as the Predictor does)."""
    inputs = signature.structured_input_signature[1]
    tensors = {name: tf.constant([row[name][0] for row in rows], dtype=spec.dtype) for name, spec in inputs.items()}
    return signature(**tensors)[diabetes_pipeline.PREDICTION_KEY].numpy()


def _labels(rows):
    return np.array([row["progression"][0] for row in rows], dtype=np.float64)


def _rmse(predicted, labels) -> float:
    return math.sqrt(float(np.mean((np.asarray(predicted, dtype=np.float64) - labels) ** 2)))


def test_preprocessing_outputs_are_exactly_the_transformed_features_and_label(transformed):
    expected = {preprocessing.transformed_name(k) for k in (*preprocessing.NUMERIC_FEATURES, preprocessing.LABEL_KEY)}
    assert set(transformed.train_xf[0]) == expected
    assert diabetes_model.LABEL_XF == diabetes_pipeline.LABEL_XF == "progression_xf"


def test_features_become_z_scores_of_the_training_rows_and_the_label_is_kept(transformed):
    for key in preprocessing.NUMERIC_FEATURES:
        values = np.array([row[f"{key}_xf"] for row in transformed.train_xf], dtype=np.float64).ravel()
        assert abs(values.mean()) < 1e-4, key
        assert values.std() == pytest.approx(1.0, rel=1e-3), key
    label = np.array([row["progression_xf"] for row in transformed.holdout_xf], dtype=np.float64).ravel()
    np.testing.assert_array_equal(label, _labels(transformed.holdout))


def test_serving_raw_takes_the_raw_features_and_returns_one_float_progression_each(loaded):
    signature = loaded.signatures[diabetes_pipeline.RAW_SIGNATURE]
    inputs = signature.structured_input_signature[1]
    assert set(inputs) == set(diabetes_pipeline.FEATURES)
    assert {name: spec.dtype for name, spec in inputs.items()} == {
        name: tf.int64 if name in INT_FEATURES else tf.float32 for name in diabetes_pipeline.FEATURES
    }
    outputs = signature.structured_outputs
    assert set(outputs) == {diabetes_pipeline.PREDICTION_KEY}
    assert outputs[diabetes_pipeline.PREDICTION_KEY].dtype == tf.float32
    assert outputs[diabetes_pipeline.PREDICTION_KEY].shape.as_list() == [None]


def test_holdout_rmse_beats_the_mean_predictor(loaded, transformed):
    holdout = transformed.holdout
    predicted = _predict(loaded.signatures[diabetes_pipeline.RAW_SIGNATURE], holdout)
    labels = _labels(holdout)
    assert predicted.shape == (len(holdout),)
    assert np.isfinite(predicted).all()
    model_rmse = _rmse(predicted, labels)
    mean_rmse = _rmse(np.full_like(labels, _labels(transformed.train).mean()), labels)
    print(f"holdout RMSE {model_rmse:.2f}, mean predictor {mean_rmse:.2f} ({len(holdout)} rows)")
    assert model_rmse < 0.8 * mean_rmse, (model_rmse, mean_rmse)


def test_serving_default_and_transform_features_serve_the_evaluator(loaded, transformed):
    holdout = transformed.holdout
    serialized = tf.constant(_serialized(holdout))
    default = loaded.signatures["serving_default"](examples=serialized)
    assert set(default) == {diabetes_pipeline.PREDICTION_KEY}
    raw = _predict(loaded.signatures[diabetes_pipeline.RAW_SIGNATURE], holdout)
    np.testing.assert_allclose(default[diabetes_pipeline.PREDICTION_KEY].numpy().ravel(), raw, rtol=1e-6)
    labels = loaded.signatures["transform_features"](examples=serialized)[diabetes_pipeline.LABEL_XF]
    np.testing.assert_array_equal(labels.numpy().ravel(), _labels(holdout))


def test_eval_config_computes_the_gated_metric_on_the_model(trained, loaded, transformed, workdir):
    import tensorflow_model_analysis as tfma

    data = workdir / "holdout.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for example in _serialized(transformed.holdout):
            writer.write(example)
    config = diabetes_pipeline.eval_config()
    result = tfma.run_model_analysis(
        eval_shared_model=tfma.default_eval_shared_model(eval_saved_model_path=trained, eval_config=config),
        eval_config=config,
        data_location=str(data),
        output_path=str(workdir / "tfma"),
    )
    [(_, metrics)] = result.slicing_metrics
    values = {key: value["doubleValue"] for key, value in metrics[""][""].items()}
    assert set(values) == {RMSE_KEY, "mean_absolute_error", "example_count"}
    assert values["example_count"] == len(transformed.holdout)
    predicted = _predict(loaded.signatures[diabetes_pipeline.RAW_SIGNATURE], transformed.holdout)
    expected = _rmse(predicted, _labels(transformed.holdout))
    assert values[RMSE_KEY] == pytest.approx(expected, rel=1e-4)


def test_training_decreases_loss_on_synthetic_rows():
    tf.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    features = {
        preprocessing.transformed_name(k): rng.normal(0, 1, (96, 1)).astype(np.float32)
        for k in preprocessing.NUMERIC_FEATURES
    }
    labels = 150 + 40 * features["bmi_xf"] + 20 * features["bp_xf"] + rng.normal(0, 5, (96, 1)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)
    mean, std = diabetes_model.label_moments(data)
    assert mean == pytest.approx(float(labels.mean()), rel=1e-5)
    assert std == pytest.approx(float(labels.std()), rel=1e-5)
    model = diabetes_model.build_model(mean, std)
    assert sorted(model.input_names) == sorted(f"{k}_xf" for k in preprocessing.NUMERIC_FEATURES)
    history = diabetes_model.train(model, data, num_epochs=15, learning_rate=0.05)
    assert len(history) == 15
    assert history[-1] < 0.1 * history[0]
    assert diabetes_model.rmse(model, data) < 10


def test_hyperparameter_values_accepts_tuner_config_and_plain_dict():
    assert diabetes_model.hyperparameter_values({"values": {"num_epochs": "3", "learning_rate": 0.1}}) == {
        "num_epochs": 3,
        "learning_rate": 0.1,
    }
    assert diabetes_model.hyperparameter_values('{"num_epochs": 2, "learning_rate": 0.5}')["num_epochs"] == 2


def test_pipeline_constants_match_the_modules_and_files():
    assert diabetes_pipeline.LABEL == preprocessing.LABEL_KEY
    assert diabetes_pipeline.PREDICTION_KEY == diabetes_model.PREDICTION_KEY
    assert diabetes_pipeline.RAW_SIGNATURE == diabetes_model.RAW_SIGNATURE
    assert diabetes_pipeline.FEATURES == preprocessing.NUMERIC_FEATURES
    assert diabetes_pipeline.TASK == "regression"
    # Every metric a gate may name for it is one its Evaluator computes, and a regression's.
    from contracts.metrics import GATE_METRICS

    gates = [name for name in diabetes_pipeline.METRICS if name in GATE_METRICS]
    assert gates and all(GATE_METRICS[name].task == "regression" for name in gates)
    for path in (SOURCES.schema_file, SOURCES.modules_dir / "preprocessing.py", SOURCES.modules_dir / "model.py"):
        assert path.is_file(), path
    [spec] = diabetes_pipeline.eval_config().model_specs
    assert spec.label_key == diabetes_pipeline.LABEL_XF
    assert list(spec.preprocessing_function_names) == ["transform_features"]
