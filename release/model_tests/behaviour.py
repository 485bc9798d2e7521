"""Behavioural model tests: what a served model must do beyond getting the shipped records right.

Batch consistency: the server micro-batches concurrent requests (serving/), so a record's answer must not
depend on the records it happens to be batched with. A model that normalises over its batch, or keeps state
between calls, answers one record alone differently from the same record in a batch, and fails here.
"""

from __future__ import annotations

from typing import Any

from contracts.registry import SmokeTestFailedError
from release.model_tests.smoke import shipped_records

# Probabilities of one record alone and in a batch may differ by float rounding, not more.
TOLERANCE = 1e-4


def batch_consistency(name: str, predictor: Any) -> None:
    records, _ = shipped_records()
    together = predictor.predict(records)
    for index, record in enumerate(records):
        (alone,) = predictor.predict([record])
        gap = max(abs(a - b) for a, b in zip(alone["probabilities"], together[index]["probabilities"], strict=True))
        if alone["species"] != together[index]["species"] or gap > TOLERANCE:
            raise SmokeTestFailedError(
                f"{name}: model test batch-consistency failed: record {index} alone is {alone['species']} "
                f"{alone['probabilities']}, in a batch {together[index]['species']} {together[index]['probabilities']}"
            )
