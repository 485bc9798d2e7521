"""The smoke test: the version loads and predicts the shipped records (raw features) right.

A model that does not load, has no raw-feature signature, answers with invalid probabilities or gets most of
these easy records wrong does not serve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from contracts.registry import SmokeTestFailedError

RECORDS = Path(__file__).with_name("smoke_records.json")
# Two typical penguins of each species from span 1: a blessed model (accuracy >= 0.9) gets them right.
MIN_CORRECT = 5


def shipped_records() -> tuple[list[dict[str, Any]], list[str]]:
    """The shipped records as raw-feature instances (what a prediction request holds), and their labels."""
    records = json.loads(RECORDS.read_text())
    labels = [record.pop("species") for record in records]
    return records, labels


def smoke_test(name: str, predictor: Any) -> None:
    """Raise SmokeTestFailedError naming the version and what failed; return quietly when it passes."""
    records, labels = shipped_records()
    try:
        predictions = predictor.predict(records)
    except Exception as err:  # Whatever stops it predicting (a TF error too) is a failed test.
        raise SmokeTestFailedError(f"{name}: smoke test failed: {err}") from err
    for prediction in predictions:
        total = sum(prediction["probabilities"])
        if not all(math.isfinite(p) for p in prediction["probabilities"]) or abs(total - 1.0) > 1e-3:
            raise SmokeTestFailedError(f"{name}: smoke test failed: probabilities {prediction}")
    correct = sum(p["species"] == label for p, label in zip(predictions, labels, strict=True))
    if correct < MIN_CORRECT:
        raise SmokeTestFailedError(
            f"{name}: smoke test failed: {correct} of {len(labels)} shipped records right (needs {MIN_CORRECT})"
        )
