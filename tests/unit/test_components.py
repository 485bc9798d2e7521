"""Custom components: hyperparameters, the validation gate and the span range (the champion evaluator and the
Vertex trainer have their own tests)."""

import json

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import standard_artifacts

from components.hyperparameters import FILE_NAME, HyperparametersGen, hyperparameters_config
from components.span_range import SpanRangeGen
from components.validation_gate import DataValidationError, ValidationGate
from pipelines.penguins.modules.model import hyperparameter_values


def test_hyperparameters_are_written_in_the_shape_run_fn_reads(tmp_path):
    artifact = standard_artifacts.HyperParameters()
    artifact.uri = str(tmp_path)
    HyperparametersGen.test_call(num_epochs=7, learning_rate=0.05, hyperparameters=artifact)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [FILE_NAME]  # The Trainer requires exactly one file.
    assert hyperparameter_values(json.loads(files[0].read_text())) == {"num_epochs": 7, "learning_rate": 0.05}


@pytest.mark.parametrize(("epochs", "rate", "field"), [(0, 0.01, "num_epochs"), (5, 0.0, "learning_rate")])
def test_hyperparameters_reject_out_of_range_values(epochs, rate, field):
    with pytest.raises(ValueError, match=field):
        hyperparameters_config(epochs, rate)


def _anomalies_dir(tmp_path, split, anomalies):
    (tmp_path / f"Split-{split}").mkdir(parents=True)
    (tmp_path / f"Split-{split}" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    return artifact


def test_gate_names_feature_and_anomaly(tmp_path):
    found = anomalies_pb2.Anomalies()
    info = found.anomaly_info["body_mass_g"]
    info.short_description = "Unexpected data type"
    info.description = "Expected data of type: INT but got BYTES"
    artifact = _anomalies_dir(tmp_path, "train", found)
    with pytest.raises(DataValidationError) as err:
        ValidationGate.test_call(anomalies=artifact)
    assert "split 'train': feature 'body_mass_g': Unexpected data type" in str(err.value)
    assert "INT but got BYTES" in str(err.value)


def test_gate_passes_clean_data(tmp_path):
    ValidationGate.test_call(anomalies=_anomalies_dir(tmp_path, "train", anomalies_pb2.Anomalies()))


def test_gate_refuses_a_missing_report(tmp_path):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    with pytest.raises(DataValidationError, match="no anomalies report"):
        ValidationGate.test_call(anomalies=artifact)


def test_span_range_becomes_the_newest_span_and_the_window(tmp_path):
    range_config, window = standard_artifacts.String(), standard_artifacts.String()
    range_config.uri, window.uri = str(tmp_path / "range_config"), str(tmp_path / "window")

    def call(start, end, window_spans=3):
        SpanRangeGen.test_call(
            span_start=start, span_end=end, window_spans=window_spans, range_config=range_config, window=window
        )
        return json.loads(range_config.value), json.loads(window.value)

    # 0..0: TFX's driver resolves the newest span; the window is the newest `window_spans` up to it.
    assert call(0, 0) == ({"rolling_range": {"num_spans": 1}}, {"window_spans": 3})
    # An explicit range: the driver resolves (and fingerprints) span_end, the window starts at span_start.
    assert call(3, 3) == ({"static_range": {"start_span_number": 3, "end_span_number": 3}}, {"span_start": 3})
    assert call(8, 10) == ({"static_range": {"start_span_number": 10, "end_span_number": 10}}, {"span_start": 8})
    with pytest.raises(ValueError, match="after span_end"):
        call(2, 1)
    with pytest.raises(ValueError, match="window_spans"):
        call(0, 0, window_spans=0)
