"""The MLflow pyfunc loader of a registered version: its SavedModel's raw-feature signature as `predict`.

Shipped inside each version's MLflow model folder (code/savedmodel_pyfunc.py, the MLmodel's pyfunc `code`),
so `mlflow.pyfunc.load_model("models:/<name>@champion")` and `mlflow models serve` load a version without
this repository. Self-contained on purpose: TensorFlow, pandas and the standard library only, imported as a
top-level module from the model's code folder.

    predict(DataFrame of raw features, one column per feature)
      -> DataFrame with one column per output of the signature, e.g. `species` and `probabilities` (one per
         class) for the penguins classifier, `progression` for the diabetes regressor

`per_instance` is also how the prediction server (components/registry/predictor.py) answers, so a model
loaded either way says the same.
"""

from __future__ import annotations

from typing import Any

# The signature of the project's models that takes raw feature values (pipelines/<name>/modules/model.py).
RAW_SIGNATURE = "serving_raw"


def _plain(value: Any) -> Any:
    """A value of `ndarray.tolist()` as JSON has it: bytes decoded (UTF-8), lists element by element."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def per_instance(outputs: dict[str, Any], count: int) -> dict[str, list[Any]]:
    """Every output of the signature as one Python value per instance, by output name (sorted): a string
    (bytes decoded), a float or an int, or a list of them for an output with more than one value per instance.

    ValueError naming the output when its first dimension is not the `count` instances asked about.
    """
    columns = {}
    for name in sorted(outputs):
        array = outputs[name].numpy()
        if array.ndim == 0 or array.shape[0] != count:
            raise ValueError(
                f"output {name!r} of {RAW_SIGNATURE} has shape {list(array.shape)}, not one value per instance "
                f"({count})"
            )
        columns[name] = _plain(array.tolist())
    return columns


class SavedModelPyfunc:
    """One loaded SavedModel; `predict` as MLflow's pyfunc calls it."""

    def __init__(self, path: str) -> None:
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        if RAW_SIGNATURE not in loaded.signatures:
            raise ValueError(f"{path}: the SavedModel has no {RAW_SIGNATURE!r} signature")
        self._loaded = loaded  # Keeps the variables the signature uses alive.
        self._fn = loaded.signatures[RAW_SIGNATURE]
        self.features = {name: spec.dtype for name, spec in self._fn.structured_input_signature[1].items()}

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd
        import tensorflow as tf

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = sorted(set(self.features) - set(frame.columns))
        if missing:
            raise ValueError(f"missing feature column(s) {missing} (features: {sorted(self.features)})")
        tensors = {name: tf.constant(frame[name].tolist(), dtype=dtype) for name, dtype in self.features.items()}
        return pd.DataFrame(per_instance(self._fn(**tensors), len(frame)))


def _load_pyfunc(data_path: str) -> SavedModelPyfunc:
    """MLflow's entry point: `data_path` is the MLmodel's `data` folder, the SavedModel (Format-Serving/)."""
    return SavedModelPyfunc(data_path)
