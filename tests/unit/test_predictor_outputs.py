"""What a loaded version answers: every output of its `serving_raw` signature, per instance, in JSON's types,
whichever pipeline trained it; the server (Predictor) and the MLflow pyfunc answer alike."""

from __future__ import annotations

import json

import pytest

from components.registry.predictor import InputError, Predictor
from components.registry.savedmodel_pyfunc import SavedModelPyfunc
from tests.tiny_model import diabetes_least_squares, save_tiny_model, save_tiny_regressor

pytestmark = pytest.mark.slow  # TensorFlow: seconds

PATIENT = {"age": 59, "sex": 2, "bmi": 32.1, "bp": 101.0, "s1": 157, "s2": 93.2, "s3": 38.0, "s4": 4.0,
           "s5": 4.8598, "s6": 87}  # fmt: skip
PENGUIN = {"island": "Biscoe", "bill_length_mm": 50.0, "bill_depth_mm": 15.2, "flipper_length_mm": 218,
           "body_mass_g": 5700, "sex": "male"}  # fmt: skip


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    return save_tiny_regressor(tmp_path_factory.mktemp("diabetes") / "Format-Serving", *diabetes_least_squares())


def test_a_regressor_answers_its_one_output_as_a_float_per_instance(regressor):
    predictor = Predictor(str(regressor), "1")
    assert predictor.features["age"].name == "int64" and predictor.features["bmi"].name == "float32"
    predictions = predictor.predict([PATIENT, {**PATIENT, "bmi": 22.1}])
    assert [sorted(p) for p in predictions] == [["progression"], ["progression"]]
    values = [p["progression"] for p in predictions]
    assert all(type(v) is float for v in values)
    assert 150 < values[0] < 260 and values[1] < values[0]  # A lower BMI, a lower predicted progression.
    assert json.loads(json.dumps(predictions)) == predictions
    with pytest.raises(InputError, match=r"instances\[0\].age: expected an integer, got 59.5"):
        predictor.predict([{**PATIENT, "age": 59.5}])


def test_a_classifier_answers_as_it_always_did(tmp_path):
    predictor = Predictor(str(save_tiny_model(tmp_path / "Format-Serving")), "1")
    (prediction,) = predictor.predict([PENGUIN])
    assert prediction == {"species": "Gentoo", "probabilities": pytest.approx([0.02 / 3, 0.02 / 3, 0.98 + 0.02 / 3])}
    assert type(prediction["species"]) is str and all(type(p) is float for p in prediction["probabilities"])


def test_the_pyfunc_answers_as_the_predictor(regressor):
    import pandas as pd

    frame = pd.DataFrame([PATIENT, {**PATIENT, "s5": 3.9}])
    answered = SavedModelPyfunc(str(regressor)).predict(frame).to_dict("records")
    assert answered == Predictor(str(regressor)).predict(frame.to_dict("records"))
