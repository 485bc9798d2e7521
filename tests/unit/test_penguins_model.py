"""The Keras model: builds with the expected inputs and outputs, and learns (loss decreases)."""

import numpy as np
import tensorflow as tf

from pipelines.penguins.modules import model as penguin_model
from pipelines.penguins.modules import preprocessing

SIZES = {"island_xf": 4, "sex_xf": 3}


def synthetic_dataset(rows=96, seed=0):
    """Transformed-looking features whose label is learnable from bill length and body mass."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=(rows, 1))
    features = {
        "bill_length_mm_xf": (labels - 1 + rng.normal(0, 0.3, (rows, 1))).astype(np.float32),
        "bill_depth_mm_xf": rng.normal(0, 1, (rows, 1)).astype(np.float32),
        "flipper_length_mm_xf": rng.normal(0, 1, (rows, 1)).astype(np.float32),
        "body_mass_g_xf": ((labels == 2) + rng.normal(0, 0.3, (rows, 1))).astype(np.float32),
        "island_xf": rng.integers(0, 3, (rows, 1)),
        "sex_xf": rng.integers(0, 2, (rows, 1)),
    }
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)


def test_model_shape():
    model = penguin_model.build_model(SIZES)
    assert sorted(model.input_names) == sorted(
        preprocessing.transformed_name(k) for k in preprocessing.NUMERIC_FEATURES + preprocessing.CATEGORICAL_FEATURES
    )
    batch, _ = next(iter(synthetic_dataset()))
    probabilities = model(batch).numpy()
    assert probabilities.shape == (16, len(preprocessing.LABELS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_training_decreases_loss_and_learns():
    tf.keras.utils.set_random_seed(1)
    data = synthetic_dataset()
    model = penguin_model.build_model(SIZES)
    before = penguin_model.accuracy(model, data)
    history = penguin_model.train(model, data, num_epochs=15, learning_rate=0.02)
    assert len(history) == 15
    assert history[-1] < 0.5 * history[0]
    assert penguin_model.accuracy(model, data) > max(before, 0.8)


def test_hyperparameter_values_accepts_tuner_config_and_plain_dict():
    assert penguin_model.hyperparameter_values({"values": {"num_epochs": "3", "learning_rate": 0.1}}) == {
        "num_epochs": 3,
        "learning_rate": 0.1,
    }
    assert penguin_model.hyperparameter_values('{"num_epochs": 2, "learning_rate": 0.5}')["num_epochs"] == 2
