"""The MLflow pyfunc loader of a registered version: its SavedModel's raw-feature signature as `predict`.

Shipped inside each version's MLflow model folder (code/savedmodel_pyfunc.py, the MLmodel's pyfunc `code`),
so `mlflow.pyfunc.load_model("models:/<name>@champion")` and `mlflow models serve` load a version without
this repository. Self-contained on purpose: TensorFlow, pandas and the standard library only, imported as a
top-level module from the model's code folder.

    predict(DataFrame of raw features, one column per feature)
      -> DataFrame with `species` (the predicted class) and `probabilities` (one per class)
"""

from __future__ import annotations

from typing import Any

# The signature of the project's models that takes raw feature values (pipelines/penguins/modules/model.py).
RAW_SIGNATURE = "serving_raw"


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
        outputs = self._fn(**tensors)
        return pd.DataFrame(
            {
                "species": [value.decode() for value in outputs["species"].numpy()],
                "probabilities": outputs["probabilities"].numpy().tolist(),
            }
        )


def _load_pyfunc(data_path: str) -> SavedModelPyfunc:
    """MLflow's entry point: `data_path` is the MLmodel's `data` folder, the SavedModel (Format-Serving/)."""
    return SavedModelPyfunc(data_path)
