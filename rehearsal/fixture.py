"""What a pipeline run's Trainer and Evaluator leave for the registry push, made in seconds (TFX environment), for
any pipeline, from its own folder (pipelines/sources.py) alone: its definition, schema and shipped spans.

Training is not rehearsed (the e2e tier trains real pipelines), so the push gets stand-ins built here, plainly
not trained models, one folder per pipeline asked for (OUT_DIR/<pipeline>/), each with:
- two SavedModels (`model-a`, `model-b`) of one stand-in: a least-squares linear fit in closed form (numpy) on two
  thirds of the rows of the pipeline's shipped spans (data/span-<N>/*.csv; every third row is held out). Its
  inputs are the schema's features but the label (schema/schema.pbtxt): numbers z-scored, strings one-hot over
  their schema domain. A regression (TASK) fits the label; a classification fits one indicator per class of
  CLASSES and answers the class of the highest score, its PROBABILITIES the softmax of the scores. Both have the
  signature the prediction server and the model tests use, `serving_raw` (the schema's raw features in, typed as
  the schema says; out, the label's key, as release/model_tests/smoke.py reads it, and PROBABILITIES where the
  definition names one). The two differ only in a constant naming them: different bytes, the same answers;
- the Evaluator's output: TFMA's metrics file for the overall slice, those of the definition's METRICS it can
  compute (contracts/metrics.py's gate metrics, and example_count), of model-a's answers on the held-out rows
  (scored as the data check scores a batch, release/datacheck/evaluate.py);
- the hyperparameters file the Trainer reads;
- figures.json (not a pipeline output): the metrics by TFMA key and the rows fitted and held out, for the
  rehearsal's report and its check of the environment's gate.

    python -m rehearsal.fixture OUT_DIR [PIPELINE ...]   # in the TFX environment; default: every pipeline folder
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.metrics import GATE_METRICS
from pipelines.sources import pipeline_names, pipeline_sources

# Every HOLDOUT-th row of the shipped spans is held out for the metrics (the pipeline's split is 2:1 too).
HOLDOUT = 3
EXAMPLE_COUNT = ("ExampleCount", "example_count")  # TFMA's class name and key


@dataclass(frozen=True)
class Spec:
    """What a pipeline's stand-in is made from: its judgement and schema columns (release/, read from its folder)."""

    pipeline: str
    task: str  # "classification" or "regression"
    label: str  # the key `serving_raw` answers with (the smoke test's)
    classes: tuple[str, ...]
    probabilities: str | None
    columns: tuple[Any, ...]  # release.datacheck.rules.Column of each feature, the label excluded
    metrics: tuple[str, ...]  # the definition's METRICS (TFMA class names)


def spec(pipeline: str) -> Spec:
    from release.datacheck.rules import load_rules
    from release.model_tests.smoke import judgement

    sources = pipeline_sources(pipeline)
    judge = judgement(pipeline)
    rules = load_rules(sources.schema_file, judge.label)
    return Spec(
        pipeline,
        judge.task,
        judge.label,
        judge.classes,
        judge.probabilities,
        tuple(c for c in rules.columns if c.name != judge.label),
        tuple(getattr(sources.definition(), "METRICS", ())),
    )


def shipped_rows(pipeline: str) -> list[dict[str, str]]:
    """Every row of the pipeline's shipped spans, span by span."""
    rows: list[dict[str, str]] = []
    for path in sorted(pipeline_sources(pipeline).data_dir.glob("span-*/*.csv")):
        with path.open(newline="") as source:
            rows += list(csv.DictReader(source))
    if not rows:
        raise ValueError(f"pipeline {pipeline}: no rows in its shipped spans (pipelines/{pipeline}/data/span-*/)")
    return rows


def typed(row: dict[str, str], columns: tuple[Any, ...]) -> dict[str, Any]:
    """A row's features as a prediction request holds them (the schema's types)."""
    convert = {"int": int, "float": float, "string": str}
    return {c.name: convert[c.kind](row[c.name]) for c in columns}


@dataclass(frozen=True)
class Fit:
    """The linear stand-in: inputs (numbers: (x - mean) / scale; strings: one 0/1 column per domain value), then
    inputs @ weights + bias (one score, or one per class)."""

    numbers: dict[str, tuple[float, float]]  # feature -> (mean, scale)
    strings: dict[str, tuple[str, ...]]  # feature -> its domain values, in order
    weights: list[list[float]]  # [inputs, outputs]
    bias: list[float]  # [outputs]


def fit(it: Spec, rows: list[dict[str, str]]) -> Fit:
    """Least squares on `rows` (at least one per input, or the fit is underdetermined but still answers)."""
    import numpy as np

    numbers = {}
    for column in (c for c in it.columns if c.kind != "string"):
        values = np.asarray([float(r[column.name]) for r in rows])
        numbers[column.name] = (float(values.mean()), float(values.std()) or 1.0)
    strings = {c.name: tuple(sorted(c.values)) for c in it.columns if c.kind == "string"}
    draft = Fit(numbers, strings, [], [])
    design = np.hstack([np.asarray([inputs(draft, r) for r in rows]), np.ones((len(rows), 1))])
    if it.task == "classification":
        unknown = sorted({r[it.label] for r in rows} - set(it.classes))
        if unknown:
            raise ValueError(f"pipeline {it.pipeline}: {it.label} values {unknown} are not in its CLASSES")
        target = np.asarray([[float(r[it.label] == c) for c in it.classes] for r in rows])
    else:
        target = np.asarray([[float(r[it.label])] for r in rows])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return Fit(numbers, strings, solution[:-1].tolist(), solution[-1].tolist())


def inputs(model: Fit, row: dict[str, Any]) -> list[float]:
    """The fit's inputs of one row (numpy's side of what `serving_raw` computes)."""
    values = [(float(row[name]) - mean) / scale for name, (mean, scale) in model.numbers.items()]
    for name, domain in model.strings.items():
        values += [float(str(row[name]) == value) for value in domain]
    return values


def build(it: Spec, model: Fit, folder: Path, tag: str) -> None:
    """The stand-in as a SavedModel with `serving_raw`; `tag` names it (a constant that changes nothing else)."""
    import numpy as np
    import tensorflow as tf

    dtypes = {"string": tf.string, "int": tf.int64, "float": tf.float32}
    signature = {c.name: tf.TensorSpec([None], dtypes[c.kind], name=c.name) for c in it.columns}

    class StandIn(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tag = tf.Variable(tag)
            shape = (len(model.weights), len(model.bias))
            self.weights = tf.Variable(np.asarray(model.weights, np.float32).reshape(shape))
            self.bias = tf.Variable(model.bias, dtype=tf.float32)

        @tf.function(input_signature=[signature])
        def serve_raw(self, features):
            columns = [(tf.cast(features[n], tf.float32) - m) / s for n, (m, s) in model.numbers.items()]
            for name, domain in model.strings.items():
                columns += [tf.cast(tf.equal(features[name], value), tf.float32) for value in domain]
            count = tf.shape(next(iter(features.values())))[0]
            stacked = tf.stack(columns, axis=1) if columns else tf.zeros([count, 0])
            scores = tf.matmul(stacked, self.weights) + self.bias
            if it.task == "regression":
                return {it.label: scores[:, 0]}
            answer = {it.label: tf.gather(tf.constant(it.classes), tf.argmax(scores, axis=1))}
            if it.probabilities:
                answer[it.probabilities] = tf.nn.softmax(scores, axis=1)
            return answer

    module = StandIn()
    tf.saved_model.save(module, str(folder), signatures={"serving_raw": module.serve_raw})


def evaluate(it: Spec, model_folder: Path, rows: list[dict[str, str]]) -> dict[str, float]:
    """The definition's computable METRICS of the SavedModel's answers on `rows`, by TFMA key."""
    from components.registry.predictor import MAX_INSTANCES, Predictor
    from release.datacheck.evaluate import errors, scores

    predictor = Predictor(str(model_folder))
    requests = [typed(r, it.columns) for r in rows]
    predicted = []
    for start in range(0, len(requests), MAX_INSTANCES):
        predicted += [p[it.label] for p in predictor.predict(requests[start : start + MAX_INSTANCES])]
    if it.task == "classification":
        values = {"SparseCategoricalAccuracy": scores(predicted, [r[it.label] for r in rows], it.classes)["accuracy"]}
    else:
        values = errors(predicted, [float(r[it.label]) for r in rows])
    metrics = {}
    for name in it.metrics:
        gate = GATE_METRICS.get(name)
        if gate is not None and gate.task == it.task and values.get(name) is not None:
            metrics[gate.key] = float(values[name])
        elif name == EXAMPLE_COUNT[0]:
            metrics[EXAMPLE_COUNT[1]] = float(len(rows))
    return metrics


def write_evaluation(folder: Path, metrics: dict[str, float]) -> None:
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    record = metrics_for_slice_pb2.MetricsForSlice()
    for name, value in metrics.items():
        entry = record.metric_keys_and_values.add()
        entry.key.name = name
        entry.value.double_value.value = value
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())


def write_hyperparameters(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    values = {"values": {"num_epochs": 20, "learning_rate": 0.01}}
    (folder / "hyperparameters.json").write_text(json.dumps(values))


def make(pipeline: str, out: Path) -> dict[str, Any]:
    """OUT/<pipeline>/ for one pipeline; its figures."""
    it = spec(pipeline)
    rows = shipped_rows(pipeline)
    held_out = [r for i, r in enumerate(rows) if i % HOLDOUT == HOLDOUT - 1]
    fitted = [r for i, r in enumerate(rows) if i % HOLDOUT != HOLDOUT - 1]
    model = fit(it, fitted)
    folder = out / pipeline
    for tag in ("a", "b"):
        build(it, model, folder / f"model-{tag}" / "Format-Serving", tag)
    metrics = evaluate(it, folder / "model-a" / "Format-Serving", held_out)
    write_evaluation(folder / "evaluation", metrics)
    figures = {"task": it.task, "fitted rows": len(fitted), "held-out rows": len(held_out), "metrics": metrics}
    (folder / "figures.json").write_text(json.dumps(figures, indent=1))
    # Written last: the hyperparameters file marks the pipeline's folder complete (rehearsal/run.py).
    write_hyperparameters(folder / "hyperparameters")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0])
    for pipeline in args[1:] or pipeline_names():
        print(f"{pipeline}: {json.dumps(make(pipeline, out))}", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
