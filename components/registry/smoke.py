"""The smoke test a version passes before an alias moves to it: load it and predict on a few shipped records.

A model that does not load, has no raw-feature signature, answers with invalid probabilities or gets most of
these easy records wrong does not serve; the champion stays where it was.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from contracts.registry import ModelVersion, SmokeTestFailedError

RECORDS = Path(__file__).with_name("smoke_records.json")
# Two typical penguins of each species from span 1: a blessed model (accuracy >= 0.9) gets them right.
MIN_CORRECT = 5


def smoke_test(version: ModelVersion) -> None:
    """Raise SmokeTestFailedError naming the version and what failed; return quietly when it passes."""
    from components.registry.predictor import Predictor

    records = json.loads(RECORDS.read_text())
    labels = [record.pop("species") for record in records]
    try:
        predictions = Predictor(version.uri, version.version).predict(records)
    except Exception as err:  # Whatever stops it loading or predicting (a TF error too) is a failed test.
        raise SmokeTestFailedError(f"version {version.version}: smoke test failed: {err}") from err
    for prediction in predictions:
        total = sum(prediction["probabilities"])
        if not all(math.isfinite(p) for p in prediction["probabilities"]) or abs(total - 1.0) > 1e-3:
            raise SmokeTestFailedError(f"version {version.version}: smoke test failed: probabilities {prediction}")
    correct = sum(p["species"] == label for p, label in zip(predictions, labels, strict=True))
    if correct < MIN_CORRECT:
        raise SmokeTestFailedError(
            f"version {version.version}: smoke test failed: {correct} of {len(labels)} shipped records right "
            f"(needs {MIN_CORRECT})"
        )
