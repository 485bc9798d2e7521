"""Loading a registered model the way an MLflow user does: `models:/<name>@<alias>`, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from contracts.registry import CHAMPION


def predict_through_models_uri(registry: Any, records: list[dict[str, Any]], cwd: Path) -> list[dict[str, Any]]:
    """The champion's predictions for `records`, by `mlflow.pyfunc.load_model("models:/<name>@champion")` in a
    new Python process outside the repository and without it on the path: the model brings its own loader."""
    script = (
        "import json, sys, mlflow, pandas\n"
        f"model = mlflow.pyfunc.load_model('models:/{registry.name}@{CHAMPION}')\n"
        "print(json.dumps(model.predict(pandas.DataFrame(json.loads(sys.stdin.read()))).to_dict('records')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MLFLOW_TRACKING_URI=registry.tracking_uri, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(records),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
