"""Each local version as an MLflow model: the MLmodel file (pyfunc flavour) beside its SavedModel.

    <local root>/registry/artifacts/<sha256>/
        Format-Serving/          the SavedModel (the pyfunc's `data`; a TFX Model artifact root around it)
        MLmodel                  pyfunc: loader `savedmodel_pyfunc`, signature of the raw features, run id
        code/savedmodel_pyfunc.py  the loader (components/registry/savedmodel_pyfunc.py), shipped as code
        requirements.txt, python_env.yaml   what it loads with

So `mlflow.pyfunc.load_model("models:/<name>@champion")` and `mlflow models serve` work on a version as
they do on any logged model, and the folder stays what the Evaluator takes as a baseline.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import shutil
from pathlib import Path
from typing import Any

from components.registry.savedmodel_pyfunc import RAW_SIGNATURE
from contracts.registry import SERVING_MODEL_DIR

log = logging.getLogger(__name__)

LOADER = Path(__file__).with_name("savedmodel_pyfunc.py")
LOADER_MODULE = LOADER.stem
CODE_DIR = "code"
PYTHON_ENV = "python_env.yaml"
REQUIREMENTS = "requirements.txt"
# The MLflow column type a request sends each TensorFlow input as: JSON numbers arrive as float64/int64, and
# the loader casts to the model's dtype (a float32 input must accept float64 values, which "float" refuses).
_COLUMN_TYPES = {"DT_STRING": "string", "DT_FLOAT": "double", "DT_DOUBLE": "double", "DT_INT64": "long"}
_LOADS_WITH = ("mlflow", "tensorflow", "pandas")


def raw_signature(saved_model: Path) -> Any:
    """The MLflow ModelSignature of the SavedModel's raw-feature inputs, read from saved_model.pb (no load);
    None, with a warning, when the folder holds no SavedModel with that signature."""
    from google.protobuf.message import DecodeError
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        proto = saved_model_pb2.SavedModel.FromString((saved_model / "saved_model.pb").read_bytes())
        inputs = proto.meta_graphs[0].signature_def[RAW_SIGNATURE].inputs
        columns = [ColSpec(_COLUMN_TYPES[types_pb2.DataType.Name(info.dtype)], name) for name, info in inputs.items()]
    except (OSError, IndexError, KeyError, DecodeError) as err:
        log.warning("%s: no %s signature to describe (%s); the MLmodel has none", saved_model, RAW_SIGNATURE, err)
        return None
    return ModelSignature(inputs=Schema(sorted(columns, key=lambda c: c.name or "")))


def write_mlflow_model(folder: Path, *, run_id: str | None, content_sha256: str) -> None:
    """Write the MLflow model files into `folder`, which already holds the SavedModel in Format-Serving/."""
    import mlflow.pyfunc
    from mlflow.models import Model

    (folder / CODE_DIR).mkdir()
    shutil.copyfile(LOADER, folder / CODE_DIR / LOADER.name)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in _LOADS_WITH]
    (folder / REQUIREMENTS).write_text("\n".join(pins) + "\n")
    pip = importlib.metadata.version("pip")
    (folder / PYTHON_ENV).write_text(
        f"python: {platform.python_version()}\nbuild_dependencies:\n- pip=={pip}\ndependencies:\n- -r {REQUIREMENTS}\n"
    )
    model = Model(
        run_id=run_id,
        signature=raw_signature(folder / SERVING_MODEL_DIR),
        metadata={"content_sha256": content_sha256},
    )
    mlflow.pyfunc.add_to_model(
        model, loader_module=LOADER_MODULE, data=SERVING_MODEL_DIR, code=CODE_DIR, python_env=PYTHON_ENV
    )
    model.save(str(folder / "MLmodel"))
