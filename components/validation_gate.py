"""ValidationGate: stops the run before training when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing downstream refuses bad data. This gate reads them and
fails with a message naming each feature and anomaly, so Transform and Trainer never see that data.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The examples do not match the curated schema."""


def describe_anomalies(split: str, anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """One line per anomalous feature: split, feature, short and long description."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        lines.append(f"split '{split}': feature '{feature}': {info.short_description} ({info.description})")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        lines.append(f"split '{split}': dataset: {info.short_description} ({info.description})")
    return lines


def read_split_anomalies(uri: str) -> dict[str, anomalies_pb2.Anomalies]:
    """The anomalies of every split under an ExampleAnomalies artifact uri (Split-<name>/SchemaDiff.pb)."""
    result = {}
    for entry in sorted(fileio.listdir(uri)):
        name = entry.rstrip("/")
        path = os.path.join(uri, name, ANOMALIES_FILE)
        if name.startswith("Split-") and fileio.exists(path):
            with fileio.open(path, "rb") as f:
                result[name[len("Split-") :]] = anomalies_pb2.Anomalies.FromString(f.read())
    return result


@component
def ValidationGate(  # noqa: N802 - TFX components are named like classes.
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
) -> None:
    """Raise DataValidationError listing every anomaly; pass when there are none."""
    splits = read_split_anomalies(anomalies.uri)
    if not splits:
        raise DataValidationError(f"no anomalies report found under {anomalies.uri}")
    problems = [line for split, found in splits.items() for line in describe_anomalies(split, found)]
    if problems:
        raise DataValidationError("data validation failed:\n  " + "\n  ".join(problems))
