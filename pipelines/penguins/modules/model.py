"""The penguins classifier: a small Keras network trained on tf.Transform outputs (TFX Trainer `run_fn`).

Hyperparameters arrive through the Trainer's `hyperparameters` input (written by the HyperparametersGen
component from the pipeline parameters `num_epochs` and `learning_rate`).
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tf_keras import Model, layers, losses, optimizers, utils
from tfx_bsl.public import tfxio

try:  # Imported as part of the pipelines.penguins.modules package (tests, the pipeline image).
    from . import preprocessing
except ImportError:  # Imported from TFX's user-module wheel, where each file is a top-level module.
    import preprocessing  # type: ignore[no-redef]

BATCH_SIZE = 16
HIDDEN_UNITS = (16, 8)
SEED = 7
# Larger than a span, so every epoch is a full shuffle.
SHUFFLE_BUFFER = 4096
LABEL_XF = preprocessing.transformed_name(preprocessing.LABEL_KEY)
# The signature that takes raw feature values, one tensor per feature: what the prediction server calls.
RAW_SIGNATURE = "serving_raw"


def hyperparameter_values(hyperparameters: Any) -> dict[str, Any]:
    """Accept the Trainer's parsed hyperparameters (a keras-tuner style config) or a plain dict."""
    if isinstance(hyperparameters, str):
        hyperparameters = json.loads(hyperparameters)
    values = hyperparameters.get("values", hyperparameters)
    return {"num_epochs": int(values["num_epochs"]), "learning_rate": float(values["learning_rate"])}


def input_fn(file_pattern, data_accessor, tf_transform_output, batch_size: int = BATCH_SIZE) -> tf.data.Dataset:
    """(features, label) batches, rows reshuffled every epoch.

    The examples are read once and cached in memory: re-reading the files each epoch costs more than the
    whole training on a data set of this size.
    """
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


def build_model(feature_sizes: dict[str, int]) -> Model:
    """Numeric inputs pass through; categorical ids are one-hot encoded with their vocabulary size."""
    inputs, encoded = {}, []
    for key in preprocessing.NUMERIC_FEATURES:
        name = preprocessing.transformed_name(key)
        inputs[name] = layers.Input(shape=(1,), name=name, dtype=tf.float32)
        encoded.append(inputs[name])
    for key in preprocessing.CATEGORICAL_FEATURES:
        name = preprocessing.transformed_name(key)
        inputs[name] = layers.Input(shape=(1,), name=name, dtype=tf.int64)
        encoded.append(layers.CategoryEncoding(num_tokens=feature_sizes[name], output_mode="one_hot")(inputs[name]))
    x = layers.concatenate(encoded)
    for units in HIDDEN_UNITS:
        x = layers.Dense(units, activation="relu")(x)
    outputs = layers.Dense(len(preprocessing.LABELS), activation="softmax", name="probabilities")(x)
    return Model(inputs=inputs, outputs=outputs)


def train(model: Model, dataset: tf.data.Dataset, num_epochs: int, learning_rate: float) -> list[float]:
    """Minimise cross-entropy with Adam; return the mean training loss of each epoch.

    A plain loop instead of `model.fit`: fit's first call autograph-converts ~800 Keras functions, about
    14 s per process here, against well under a second of actual training.
    """
    loss_fn = losses.SparseCategoricalCrossentropy()
    # XLA-compiling the update step is pointless for a model this small and costs seconds.
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


def accuracy(model: Model, dataset: tf.data.Dataset) -> float:
    correct = total = 0
    for features, labels in dataset:
        predicted = tf.argmax(model(features, training=False), axis=-1)
        correct += int(tf.reduce_sum(tf.cast(tf.equal(predicted, tf.reshape(labels, [-1])), tf.int32)))
        total += int(tf.size(labels))
    return correct / total if total else 0.0


def categorical_sizes(tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    return {
        preprocessing.transformed_name(key): tf_transform_output.vocabulary_size_by_name(key)
        + preprocessing.NUM_OOV_BUCKETS
        for key in preprocessing.CATEGORICAL_FEATURES
    }


def _signatures(model: Model, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """serving_default: serialized tf.Example -> class probabilities (TFMA evaluates it); transform_features:
    for TFMA's labels; serving_raw: raw feature values -> class probabilities (the prediction server)."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()

    @tf.function(autograph=False, input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized):
        features = dict(raw_spec)
        features.pop(preprocessing.LABEL_KEY)
        transformed = model.tft_layer(tf.io.parse_example(serialized, features))
        return {"probabilities": model(transformed)}

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
        probabilities = model(model.tft_layer(columns))
        # The label names travel with the model, so a server needs no copy of the label order.
        species = tf.gather(tf.constant(preprocessing.LABELS), tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "species": species}

    return {"serving_default": serve_examples, "transform_features": transform_features, RAW_SIGNATURE: serve_raw}


def run_fn(fn_args) -> None:
    """TFX Trainer entry point."""
    params = hyperparameter_values(fn_args.hyperparameters)
    utils.set_random_seed(SEED)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_data = input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    model = build_model(categorical_sizes(tf_transform_output))
    history = train(model, train_data, params["num_epochs"], params["learning_rate"])
    eval_data = input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    # The Evaluator decides on blessing; this line only makes the Trainer's log self-explanatory.
    print(
        f"trained {len(history)} epochs: loss {history[0]:.4f} -> {history[-1]:.4f}, "
        f"eval accuracy {accuracy(model, eval_data):.4f}"
    )
    # Skipping per-layer call traces saves ~5 s; the functional model still reloads from its config.
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=_signatures(model, tf_transform_output),
        save_traces=False,
    )
