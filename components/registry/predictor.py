"""A model version loaded for prediction on raw feature values: the smoke test before an alias moves and the
local prediction server both call it, so what was smoke-tested is what serves.

Each instance is checked against the model's own `serving_raw` signature (names and types), so a bad request
is refused naming the instance and the feature instead of failing inside TensorFlow. `columns` (the check) and
`run` (the model call) are apart so the server can check each request alone and call the model once per batch.
An answer holds every output of the signature, by name, one value per instance (savedmodel_pyfunc.per_instance,
as the MLflow pyfunc answers): {"species": "Gentoo", "probabilities": [...]} from the penguins classifier,
{"progression": 151.3} from the diabetes regressor.

A gs:// SavedModel (a Vertex version in the registry bucket) is downloaded through google-cloud-storage to a
temporary folder first, kept as long as the Predictor: TensorFlow's own GCS filesystem cannot be pointed at
the endpoint contracts/google_apis.py names, so the smoke test, the data check and the server would
otherwise bypass the seam.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from components.registry.savedmodel_pyfunc import RAW_SIGNATURE, per_instance

MAX_INSTANCES = 1000


class InputError(ValueError):
    """The request cannot be served as sent; the message names what is wrong."""


def _check(index: int, name: str, value: Any, dtype: str) -> Any:
    where = f"instances[{index}].{name}"
    if dtype == "string":
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number, got {value!r}")
    if dtype.startswith("int"):
        if value != int(value):
            raise InputError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    return float(value)


def _materialized(uri: str, client: Any) -> tempfile.TemporaryDirectory[str] | None:
    """A local copy of a gs:// SavedModel (removed with the returned object); None for a local folder."""
    from components.registry import gcs

    if not gcs.is_gcs(uri):
        return None
    copy = tempfile.TemporaryDirectory(prefix="model-")
    try:
        gcs.download_tree(client or gcs.storage_client(), uri, Path(copy.name))
    except BaseException:
        copy.cleanup()
        raise
    return copy


class Predictor:
    """One loaded SavedModel; thread-safe (TensorFlow concrete functions are)."""

    def __init__(self, uri: str, version: str = "", storage_client: Any = None) -> None:
        import tensorflow as tf

        self.uri, self.version = uri, version
        self._copy = _materialized(uri, storage_client)
        loaded = tf.saved_model.load(self._copy.name if self._copy else uri)
        if RAW_SIGNATURE not in loaded.signatures:
            raise InputError(f"model {uri} has no {RAW_SIGNATURE!r} signature (trained before raw-feature serving)")
        self._loaded = loaded  # Keeps the variables the signature uses alive.
        self._fn = loaded.signatures[RAW_SIGNATURE]
        self.features = {name: spec.dtype for name, spec in self._fn.structured_input_signature[1].items()}

    def columns(self, instances: Any) -> dict[str, list[Any]]:
        """The instances as one list per feature, or InputError naming the first problem."""
        if not isinstance(instances, list) or not instances:
            raise InputError("'instances' must be a non-empty list of objects")
        if len(instances) > MAX_INSTANCES:
            raise InputError(f"'instances': at most {MAX_INSTANCES} per request, got {len(instances)}")
        columns: dict[str, list[Any]] = {name: [] for name in self.features}
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InputError(f"instances[{index}]: expected an object of feature values, got {instance!r}")
            missing = sorted(set(self.features) - set(instance))
            unknown = sorted(set(instance) - set(self.features))
            if missing or unknown:
                detail = "; ".join(
                    part
                    for part in (f"missing {missing}" if missing else "", f"unknown {unknown}" if unknown else "")
                    if part
                )
                raise InputError(f"instances[{index}]: {detail} (features: {sorted(self.features)})")
            for name, dtype in self.features.items():
                columns[name].append(_check(index, name, instance[name], dtype.name))
        return columns

    def predict(self, instances: Any) -> list[dict[str, Any]]:
        return self.run(self.columns(instances))

    def run(self, columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """One model call on checked columns (`columns`' output; the server's micro-batches merge several)."""
        import tensorflow as tf

        tensors = {name: tf.constant(values, dtype=self.features[name]) for name, values in columns.items()}
        count = len(next(iter(columns.values()))) if columns else 0
        outputs = per_instance(self._fn(**tensors), count)
        return [{name: values[index] for name, values in outputs.items()} for index in range(count)]
