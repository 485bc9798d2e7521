"""The preprocessing function run through tf.Transform (Beam, in memory) on a few rows."""

import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipelines.penguins.modules import preprocessing

ROWS = [
    {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.0, "bill_depth_mm": 18.0,
     "flipper_length_mm": 180, "body_mass_g": 3600, "sex": "male"},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 47.0, "bill_depth_mm": 15.0,
     "flipper_length_mm": 220, "body_mass_g": 5400, "sex": "female"},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 49.0, "bill_depth_mm": 18.5,
     "flipper_length_mm": 196, "body_mass_g": 3700, "sex": "female"},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 45.0, "bill_depth_mm": 14.5,
     "flipper_length_mm": 212, "body_mass_g": 4900, "sex": "male"},
]  # fmt: skip
FEATURE_SPEC = {
    **{k: tf.io.FixedLenFeature([1], tf.string) for k in ("species", "island", "sex")},
    **{k: tf.io.FixedLenFeature([1], tf.float32) for k in ("bill_length_mm", "bill_depth_mm")},
    **{k: tf.io.FixedLenFeature([1], tf.int64) for k in ("flipper_length_mm", "body_mass_g")},
}


@pytest.fixture(scope="module")
def transformed():
    rows = [{k: [v.encode() if isinstance(v, str) else v] for k, v in row.items()} for row in ROWS]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(FEATURE_SPEC))
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        (data, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn, output_record_batches=False
        )
    return {key: np.array([row[key] for row in data]).reshape(len(data), -1) for key in data[0]}


def test_outputs_are_exactly_the_transformed_features(transformed):
    expected = {preprocessing.transformed_name(k) for k in FEATURE_SPEC}
    assert set(transformed) == expected


def test_labels_follow_the_fixed_order_not_frequency(transformed):
    # Gentoo is the most frequent species here; its id must still be 2.
    assert transformed["species_xf"].ravel().tolist() == [0, 2, 1, 2]


@pytest.mark.parametrize("key", preprocessing.NUMERIC_FEATURES)
def test_numeric_features_become_z_scores(transformed, key):
    raw = np.array([row[key] for row in ROWS], dtype=np.float64)
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(transformed[f"{key}_xf"].ravel(), expected, rtol=1e-4, atol=1e-5)


def test_categorical_features_become_vocabulary_ids(transformed):
    islands = transformed["island_xf"].ravel().tolist()
    # Most frequent first: Biscoe gets 0; rows with the same island share an id.
    assert islands[1] == islands[3] == 0
    assert len(set(islands)) == 3
    assert all(0 <= i < 3 for i in islands)
    sexes = transformed["sex_xf"].ravel().tolist()
    assert sexes[0] == sexes[3] != sexes[1] == sexes[2]
