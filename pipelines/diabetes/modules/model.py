"""The diabetes regressor: a small Keras model trained on tf.Transform outputs (TFX Trainer `run_fn`).

Hyperparameters arrive through the Trainer's `hyperparameters` input (written by the HyperparametersGen
component from the pipeline parameters `num_epochs` and `learning_rate`), as for the penguins model.
"""

from __future__ import annotations

import json
import math
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tf_keras import Model, layers, losses, optimizers, utils
from tfx_bsl.public import tfxio

try:  # Imported as part of the pipelines.diabetes.modules package (tests, the pipeline image).
    from . import preprocessing
except ImportError:  # Imported from TFX's user-module wheel, where each file is a top-level module.
    import preprocessing  # type: ignore[no-redef]

BATCH_SIZE = 16
# No hidden layer: on ~300 training rows a linear model on the z-scores generalises best. Measured on a 2:1
# split of span 1, 20 epochs at learning rate 0.01: holdout RMSE ~54 linear, ~56 with (8,), ~64 with (16, 8).
HIDDEN_UNITS: tuple[int, ...] = ()
SEED = 7
# Larger than a span, so every epoch is a full shuffle.
SHUFFLE_BUFFER = 4096
LABEL_XF = preprocessing.transformed_name(preprocessing.LABEL_KEY)
# The model's one output and the serving signatures' output key: the predicted progression.
PREDICTION_KEY = preprocessing.LABEL_KEY
# The signature that takes raw feature values, one tensor per feature: what the prediction server calls.
RAW_SIGNATURE = "serving_raw"


def hyperparameter_values(hyperparameters: Any) -> dict[str, Any]:
    """Accept the Trainer's parsed hyperparameters (a keras-tuner style config) or a plain dict."""
    if isinstance(hyperparameters, str):
        hyperparameters = json.loads(hyperparameters)
    values = hyperparameters.get("values", hyperparameters)
    return {"num_epochs": int(values["num_epochs"]), "learning_rate": float(values["learning_rate"])}


def input_fn(file_pattern, data_accessor, tf_transform_output, batch_size: int = BATCH_SIZE) -> tf.data.Dataset:
    """(features, label) batches, rows reshuffled every epoch; the examples are cached in memory."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=LABEL_XF, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    )
    return (
        dataset.unbatch()
        .cache()
        .shuffle(SHUFFLE_BUFFER, seed=SEED, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def label_moments(dataset: tf.data.Dataset) -> tuple[float, float]:
    """The mean and standard deviation of the labels (1.0 if they are all equal)."""
    labels = tf.concat([tf.reshape(tf.cast(labels, tf.float64), [-1]) for _, labels in dataset], axis=0)
    mean, std = float(tf.reduce_mean(labels)), float(tf.math.reduce_std(labels))
    return mean, std if std > 0 else 1.0


def build_model(label_mean: float, label_std: float) -> Model:
    """z-scored inputs -> one value, rescaled to the label's unit by the training labels' mean and std.

    The rescaling lets the weights start and stay near unit size whatever the label's scale, so the default
    learning rate and epochs suffice; the output is in the label's unit, as TFMA and the server need it.
    """
    inputs = {}
    for key in preprocessing.NUMERIC_FEATURES:
        name = preprocessing.transformed_name(key)
        inputs[name] = layers.Input(shape=(1,), name=name, dtype=tf.float32)
    x = layers.concatenate(list(inputs.values()))
    for units in HIDDEN_UNITS:
        x = layers.Dense(units, activation="relu")(x)
    standardized = layers.Dense(1, name="standardized")(x)
    outputs = layers.Rescaling(scale=float(label_std), offset=float(label_mean), name=PREDICTION_KEY)(standardized)
    return Model(inputs=inputs, outputs=outputs)


def train(model: Model, dataset: tf.data.Dataset, num_epochs: int, learning_rate: float) -> list[float]:
    """Minimise the mean squared error with Adam; return the mean training loss of each epoch.

    A plain loop instead of `model.fit`, for the penguins model's reason: fit's first call costs ~14 s of
    autograph conversion against well under a second of training.
    """
    loss_fn = losses.MeanSquaredError()
    optimizer = optimizers.Adam(learning_rate=learning_rate, jit_compile=False)

    @tf.function(autograph=False, reduce_retracing=True)
    def step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(features, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    history = []
    for _ in range(num_epochs):
        batch_losses = [step(features, labels) for features, labels in dataset]
        history.append(float(tf.reduce_mean(batch_losses)))
    return history


def rmse(model: Model, dataset: tf.data.Dataset) -> float:
    squared = count = 0.0
    for features, labels in dataset:
        predicted = tf.reshape(model(features, training=False), [-1])
        error = predicted - tf.reshape(tf.cast(labels, tf.float32), [-1])
        squared += float(tf.reduce_sum(tf.square(error)))
        count += int(tf.size(error))
    return math.sqrt(squared / count) if count else 0.0


def _signatures(model: Model, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """serving_default: serialized tf.Example -> {progression: [n, 1]} (TFMA evaluates it); transform_features:
    for TFMA's labels (progression_xf); serving_raw: raw feature values -> {progression: [n]} (the server)."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()

    @tf.function(autograph=False, input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized):
        features = dict(raw_spec)
        features.pop(preprocessing.LABEL_KEY)
        transformed = model.tft_layer(tf.io.parse_example(serialized, features))
        return {PREDICTION_KEY: model(transformed)}

    @tf.function(autograph=False, input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    raw_inputs = {
        key: tf.TensorSpec(shape=[None], dtype=spec.dtype, name=key)
        for key, spec in raw_spec.items()
        if key != preprocessing.LABEL_KEY
    }

    @tf.function(autograph=False, input_signature=[raw_inputs])
    def serve_raw(features):
        # One value per feature and instance, as the prediction server's JSON carries them; the schema's
        # features are FixedLen [1], so each becomes a column before the same transform as training.
        columns = {key: tf.expand_dims(value, -1) for key, value in features.items()}
        return {PREDICTION_KEY: tf.reshape(model(model.tft_layer(columns)), [-1])}

    return {"serving_default": serve_examples, "transform_features": transform_features, RAW_SIGNATURE: serve_raw}


def run_fn(fn_args) -> None:
    """TFX Trainer entry point."""
    params = hyperparameter_values(fn_args.hyperparameters)
    utils.set_random_seed(SEED)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_data = input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    model = build_model(*label_moments(train_data))
    history = train(model, train_data, params["num_epochs"], params["learning_rate"])
    eval_data = input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    # The Evaluator decides on blessing; this line only makes the Trainer's log self-explanatory.
    print(
        f"trained {len(history)} epochs: loss {history[0]:.1f} -> {history[-1]:.1f}, "
        f"eval RMSE {rmse(model, eval_data):.2f}"
    )
    # Skipping per-layer call traces saves seconds; the functional model still reloads from its config.
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=_signatures(model, tf_transform_output),
        save_traces=False,
    )
