"""The smoke test: the version loads and predicts its pipeline's shipped records (raw features) right.

Each pipeline ships its records in pipelines/<name>/model_tests/smoke_records.json (raw features typed as its
`serving_raw` signature takes them, and the label under LABEL, the key the signature answers with), and its
definition (pipelines/<name>/pipeline.py) says how the answers are judged:

    classification   at least SMOKE_MIN_CORRECT answers name the record's class, and where the definition
                     names a PROBABILITIES output, every answer's is a distribution over CLASSES
    regression       every answer is a finite number within SMOKE_MAX_ABS_ERROR of the record's label

A model that does not load, has no raw-feature signature, or fails its pipeline's judgement does not serve.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from contracts.registry import SmokeTestFailedError
from pipelines.sources import pipeline_sources

# A pipeline's model-test files, in its folder: pipelines/<name>/model_tests/.
FOLDER = "model_tests"
RECORDS = "smoke_records.json"


@dataclass(frozen=True)
class Judgement:
    """How a pipeline's smoke test judges its answers: from the pipeline's definition."""

    pipeline: str
    task: str
    label: str
    # classification
    classes: tuple[str, ...] = ()
    min_correct: int | None = None
    probabilities: str | None = None
    # regression
    max_abs_error: float | None = None

    def identity(self) -> bytes:
        """What the model tests' digest takes of it (suite.py): a change to the judgement is a change to the tests."""
        return json.dumps(asdict(self), sort_keys=True).encode()


def tests_folder(pipeline: str) -> Path:
    """pipelines/<pipeline>/model_tests/: the files of the pipeline's model tests (its shipped records)."""
    return pipeline_sources(pipeline).folder / FOLDER


@cache
def judgement(pipeline: str) -> Judgement:
    """The judgement `pipeline`'s definition states; ValueError naming the constant it lacks."""
    definition = pipeline_sources(pipeline).definition()

    def constant(name: str) -> Any:
        if not hasattr(definition, name):
            raise ValueError(
                f"pipelines/{pipeline}/pipeline.py: no {name}, which its smoke test needs "
                f"(release/model_tests/smoke.py: a {definition.TASK} is judged by it)"
            )
        return getattr(definition, name)

    task, label = constant("TASK"), constant("LABEL")
    if task == "classification":
        return Judgement(
            pipeline,
            task,
            label,
            classes=tuple(constant("CLASSES")),
            min_correct=int(constant("SMOKE_MIN_CORRECT")),
            probabilities=getattr(definition, "PROBABILITIES", None),
        )
    if task == "regression":
        return Judgement(pipeline, task, label, max_abs_error=float(constant("SMOKE_MAX_ABS_ERROR")))
    raise ValueError(
        f"pipelines/{pipeline}/pipeline.py: TASK {task!r}: the smoke test judges classification or regression"
    )


def shipped_records(pipeline: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """`pipeline`'s shipped records as raw-feature instances (what a prediction request holds), and their labels."""
    label = judgement(pipeline).label
    records = json.loads((tests_folder(pipeline) / RECORDS).read_text())
    return records, [record.pop(label) for record in records]


def smoke_test(name: str, predictor: Any, pipeline: str) -> None:
    """Raise SmokeTestFailedError naming the version and what failed; return quietly when it passes."""
    judge = judgement(pipeline)
    records, labels = shipped_records(pipeline)
    try:
        predictions = predictor.predict(records)
    except Exception as err:  # Whatever stops it predicting (a TF error too) is a failed test.
        raise SmokeTestFailedError(f"{name}: smoke test failed: {err}") from err
    for prediction in predictions:
        if judge.label not in prediction:
            raise SmokeTestFailedError(
                f"{name}: smoke test failed: it answers {sorted(prediction)}, not {judge.label!r} ({pipeline})"
            )
    if judge.task == "classification":
        _classification(name, judge, predictions, labels)
    else:
        _regression(name, judge, predictions, labels)


def _classification(name: str, judge: Judgement, predictions: list[dict[str, Any]], labels: list[Any]) -> None:
    if judge.probabilities is not None:
        for prediction in predictions:
            if not _distribution(prediction.get(judge.probabilities), len(judge.classes)):
                raise SmokeTestFailedError(f"{name}: smoke test failed: {judge.probabilities} {prediction}")
    correct = sum(p[judge.label] == label for p, label in zip(predictions, labels, strict=True))
    assert judge.min_correct is not None
    if correct < judge.min_correct:
        raise SmokeTestFailedError(
            f"{name}: smoke test failed: {correct} of {len(labels)} shipped records right (needs {judge.min_correct})"
        )


def _distribution(values: Any, classes: int) -> bool:
    """One finite, non-negative probability per class, summing to 1."""
    if not isinstance(values, list) or len(values) != classes:
        return False
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values):
        return False
    return abs(sum(values) - 1.0) <= 1e-3


def _regression(name: str, judge: Judgement, predictions: list[dict[str, Any]], labels: list[Any]) -> None:
    assert judge.max_abs_error is not None
    misses = []
    for index, (prediction, label) in enumerate(zip(predictions, labels, strict=True)):
        value = prediction[judge.label]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SmokeTestFailedError(f"{name}: smoke test failed: record {index}: {judge.label} {value!r}")
        if abs(value - label) > judge.max_abs_error:
            misses.append(f"record {index}: {value:.1f} for {label}")
    if misses:
        raise SmokeTestFailedError(
            f"{name}: smoke test failed: {len(misses)} of {len(labels)} shipped records off by more than "
            f"{judge.max_abs_error:g} ({'; '.join(misses)})"
        )
