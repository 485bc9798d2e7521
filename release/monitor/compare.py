"""The comparison: the window's served requests against the champion's training data, with TFDV.

Each input feature of the pipeline's schema (the label aside) is compared by TFDV's comparators, as the schema's
type says: Jensen-Shannon divergence for numeric features, L-infinity distance for categorical ones, against its
threshold (monitoring.drift: the feature's own, else its kind's default):

    training distance   the window against the champion's training spans (TFDV's skew comparator: training
                        vs serving). This decides.
    previous distance   the window against the window before it (TFDV's drift comparator), when that window's
                        statistics were kept: shown, not deciding.

The predictions are compared the same way, as the label: the predicted classes (L-infinity) or values
(Jensen-Shannon) against the training labels (monitoring.drift.prediction_threshold). Requests the server refused
as not matching the schema count toward the rejected rate (monitoring.drift.max_rejected_rate).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.environment import Drift
from contracts.prediction_log import LoggedRequest

NUMERIC, CATEGORICAL = "numeric", "categorical"
MEASURES = {NUMERIC: "jensen_shannon_divergence", CATEGORICAL: "l_infinity"}
SHOWN = {NUMERIC: "Jensen-Shannon", CATEGORICAL: "L-infinity"}
PREDICTION = "prediction"
HISTOGRAM_BINS = 20
TOP_VALUES = 20


class MonitorError(Exception):
    """The monitor cannot judge this pipeline as configured (an unknown feature, no champion, no spans)."""


@dataclass(frozen=True)
class Feature:
    """A column compared: its name in the data, its kind and the threshold of its distance."""

    name: str
    kind: str
    threshold: float
    prediction: bool = False

    @property
    def shown(self) -> str:
        return PREDICTION if self.prediction else self.name


def load_schema(text: str) -> Any:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(text, schema_pb2.Schema())


def features_of(schema: Any, label: str, drift: Drift) -> list[Feature]:
    """The schema's features (inputs first, in the schema's order, then the label as the prediction) with their
    thresholds; MonitorError naming any feature monitoring.drift.features names that the schema does not have."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    names = [feature.name for feature in schema.feature]
    unknown = sorted(set(drift.features) - set(names) - {PREDICTION})
    if unknown:
        raise MonitorError(
            f"monitoring.drift.features names {', '.join(unknown)}, not in the pipeline's schema "
            f"(its features: {', '.join(names)})"
        )
    if label not in names:
        raise MonitorError(f"the schema has no label feature {label!r}")
    chosen: list[Feature] = []
    for feature in schema.feature:
        kind = CATEGORICAL if feature.type == schema_pb2.BYTES else NUMERIC
        default = drift.categorical_threshold if kind == CATEGORICAL else drift.numeric_threshold
        if feature.name == label:
            continue
        chosen.append(Feature(feature.name, kind, drift.features.get(feature.name, default)))
    label_type = next(f.type for f in schema.feature if f.name == label)
    kind = CATEGORICAL if label_type == schema_pb2.BYTES else NUMERIC
    chosen.append(Feature(label, kind, drift.features.get(PREDICTION, drift.prediction_threshold), prediction=True))
    return chosen


def training_frame(blobs: Sequence[bytes], features: Sequence[Feature]) -> Any:
    """The training spans' rows (CSV files with a header), the compared columns, typed by kind."""
    import pandas as pd

    frames = [pd.read_csv(io.BytesIO(blob)) for blob in blobs if blob.strip()]
    if not frames:
        raise MonitorError("the champion's training spans hold no rows")
    data = pd.concat(frames, ignore_index=True)
    missing = [f.name for f in features if f.name not in data.columns]
    if missing:
        raise MonitorError(f"the training spans have no column {', '.join(missing)}")
    return _typed(data, features)


def _typed(data: Any, features: Sequence[Feature]) -> Any:
    import pandas as pd

    columns = {}
    for feature in features:
        column = data[feature.name] if feature.name in data else pd.Series([None] * len(data), dtype=object)
        if feature.kind == NUMERIC:
            columns[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            columns[feature.name] = (
                column.astype(object).where(column.notna(), None).map(lambda v: v if v is None else str(v))
            )
    return pd.DataFrame(columns)


@dataclass
class WindowData:
    """What the window's records hold, by kind: the answered instances (with the predicted label of the version
    judged), how many requests were logged, refused, and by which versions."""

    frame: Any  # the answered instances: the input features, and the label column holding the predictions
    requests: int
    refused: int
    instances: int
    by_version: dict[str, int]
    refusals: list[str]


def window_data(records: Sequence[LoggedRequest], features: Sequence[Feature], version: str | None) -> WindowData:
    """The window's answered instances as a frame; the predictions (the label column) only of those answered by
    `version` (the champion), the others' left empty. Shadow answers are not what clients were served: left out."""
    import pandas as pd

    label = next(f for f in features if f.prediction)
    inputs = [f.name for f in features if not f.prediction]
    rows: dict[str, list[Any]] = {name: [] for name in (*inputs, label.name)}
    refused, by_version, refusals = 0, {}, []
    served = [record for record in records if record.variant != "shadow"]
    for record in served:
        by_version[record.model_version] = by_version.get(record.model_version, 0) + 1
        if record.refused:
            refused += 1
            if len(refusals) < 5:
                refusals.append(str(record.error))
            continue
        judged = record.model_version == version
        for instance, prediction in zip(record.instances, record.predictions or (), strict=False):
            for name in inputs:
                rows[name].append(instance.get(name))
            rows[label.name].append(prediction.get(label.name) if judged else None)
    frame = _typed(pd.DataFrame(rows), features)
    return WindowData(frame, len(served), refused, len(frame), by_version, refusals)


def statistics(frame: Any) -> Any:
    """TFDV's statistics of a frame (a DatasetFeatureStatisticsList)."""
    import tensorflow_data_validation as tfdv

    return tfdv.generate_statistics_from_dataframe(frame)


def _comparison_schema(schema: Any, features: Sequence[Feature]) -> Any:
    """The pipeline's schema with each compared feature's comparators set to its threshold, its label typed as the
    frames have it (predicted values are floats), and presence not required (a served request may leave out a
    feature the schema marks required: that shows as missing values, not as a failed comparison)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    by_name = {f.name: f for f in features}
    for feature in copy.feature:
        chosen = by_name.get(feature.name)
        if chosen is None:
            continue
        feature.ClearField("presence")
        if chosen.kind == NUMERIC:
            feature.type = schema_pb2.FLOAT
            feature.ClearField("int_domain")
            feature.skew_comparator.jensen_shannon_divergence.threshold = chosen.threshold
            feature.drift_comparator.jensen_shannon_divergence.threshold = chosen.threshold
        else:
            feature.skew_comparator.infinity_norm.threshold = chosen.threshold
            feature.drift_comparator.infinity_norm.threshold = chosen.threshold
    return copy


def _distances(anomalies: Any, which: str) -> dict[str, float]:
    found = {}
    for info in anomalies.drift_skew_info:
        name = "/".join(info.path.step)
        for measurement in getattr(info, f"{which}_measurements"):
            found[name] = float(measurement.value)
    return found


def compare(
    schema: Any, features: Sequence[Feature], training: Any, window: Any, previous: Any | None
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """The training distance and previous-window distance of each feature (by column name) and the schema's
    other anomalies of the window (by feature: TFDV's description)."""
    import tensorflow_data_validation as tfdv

    comparing = _comparison_schema(schema, features)
    skew = tfdv.validate_statistics(training, comparing, serving_statistics=window)
    drift = (
        _distances(tfdv.validate_statistics(window, comparing, previous_statistics=previous), "drift")
        if previous is not None
        else {}
    )
    own = tfdv.validate_statistics(window, comparing)
    anomalies = {
        name: info.description
        for name, info in own.anomaly_info.items()
        if name in {f.name for f in features if not f.prediction}
    }
    return _distances(skew, "skew"), drift, anomalies


def chart(feature: Feature, training: Any, window: Any) -> dict[str, Any]:
    """The two distributions a person compares: shares per bin (numeric) or per value (categorical)."""
    import numpy as np

    left, right = training[feature.name].dropna(), window[feature.name].dropna()
    if feature.kind == NUMERIC:
        both = np.concatenate([left.to_numpy(), right.to_numpy()])
        if both.size == 0:
            return {"kind": NUMERIC, "edges": [], "training": [], "window": []}
        low, high = float(both.min()), float(both.max())
        if low == high:
            high = low + 1.0
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        shares = [np.histogram(side.to_numpy(), bins=edges)[0] / max(len(side), 1) for side in (left, right)]
        return {
            "kind": NUMERIC,
            "edges": [round(float(e), 6) for e in edges],
            "training": [round(float(s), 6) for s in shares[0]],
            "window": [round(float(s), 6) for s in shares[1]],
        }
    counts = [side.value_counts(normalize=True) for side in (left, right)]
    values = list((counts[0].add(counts[1], fill_value=0.0)).sort_values(ascending=False).index[:TOP_VALUES])
    return {
        "kind": CATEGORICAL,
        "values": [str(v) for v in values],
        "training": [round(float(counts[0].get(v, 0.0)), 6) for v in values],
        "window": [round(float(counts[1].get(v, 0.0)), 6) for v in values],
    }


def finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
