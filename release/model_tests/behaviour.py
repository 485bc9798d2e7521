"""Behavioural model tests: what a served model must do beyond getting the shipped records right.

Batch consistency: the server micro-batches concurrent requests (serving/), so a record's answer must not
depend on the records it happens to be batched with. A model that normalises over its batch, or keeps state
between calls, answers one record alone differently from the same record in a batch, and fails here. Every
output is compared, whatever the pipeline: strings equal, numbers within float rounding.
"""

from __future__ import annotations

import math
from typing import Any

from contracts.registry import SmokeTestFailedError
from release.model_tests.smoke import shipped_records

# One record alone and in a batch may differ by float rounding, not more: relative to the value's size (a
# regression answers in its label's unit), and absolutely near zero (probabilities).
TOLERANCE = 1e-4


def same(alone: Any, together: Any) -> bool:
    """Whether two answers agree: the same outputs, strings equal, numbers within TOLERANCE, lists element-wise."""
    if isinstance(alone, dict) and isinstance(together, dict):
        return alone.keys() == together.keys() and all(same(alone[k], together[k]) for k in alone)
    if isinstance(alone, list) and isinstance(together, list):
        return len(alone) == len(together) and all(same(a, b) for a, b in zip(alone, together, strict=True))
    numbers = (int, float)
    if isinstance(alone, numbers) and isinstance(together, numbers) and not isinstance(alone, bool):
        return math.isclose(alone, together, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(alone == together)


def batch_consistency(name: str, predictor: Any, pipeline: str) -> None:
    records, _ = shipped_records(pipeline)
    together = predictor.predict(records)
    for index, record in enumerate(records):
        (alone,) = predictor.predict([record])
        if not same(alone, together[index]):
            raise SmokeTestFailedError(
                f"{name}: model test batch-consistency failed: record {index} alone is {alone}, "
                f"in a batch {together[index]}"
            )
