"""Judging a running canary: the candidate against the champion on the requests each answered since it started.

Once its bake time (release.canary.bake_minutes) is over and each side has answered release.canary.min_requests
requests, the candidate is rolled back if any of these is past its bound, else promoted:

    error rate      its share of refused requests, above the champion's by more than max_error_rate_increase
    p99 latency     above the champion's times max_p99_ratio and by min_p99_increase_ms at least (where the log
                    has latencies: locally)
    predictions     its predicted classes (L-infinity) or values (Jensen-Shannon) on the same traffic, further
                    from the champion's than max_prediction_distance (TFDV's comparators)
    accuracy        where labels have arrived (spans in the data area newer than both versions' training spans),
                    its gate metric on them worse than the champion's by more than evaluation.max_regression

Before that it keeps baking, and says why. The verdict, with every figure, goes into the move that ends the
canary (release/promotion/canary.py) and into the data area (monitoring/canary/<version>-<start>.json).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from contracts.environment import Canary
from contracts.prediction_log import LoggedRequest
from release.monitor import compare

BAKING, PROMOTE, ROLLBACK = "baking", "promote", "rollback"


def _p99(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def side_figures(records: Sequence[LoggedRequest]) -> dict[str, Any]:
    refused = sum(1 for record in records if record.refused)
    latencies = [record.latency_ms for record in records if record.latency_ms is not None]
    p99 = _p99(latencies)
    return {
        "requests": len(records),
        "refused": refused,
        "error_rate": refused / len(records) if records else None,
        "p99_ms": None if p99 is None else round(p99, 3),
    }


def judge(
    records: Sequence[LoggedRequest],
    candidate: str,
    champion: str,
    started_at: datetime,
    now: datetime,
    settings: Canary,
    schema: Any,
    features: Sequence[compare.Feature],
    labelled: Callable[[], dict[str, Any] | None] = lambda: None,
) -> dict[str, Any]:
    """The verdict on the canary: {"decision": baking|promote|rollback, "reasons": [...], "figures": {...}}."""
    served = [record for record in records if record.variant != "shadow"]
    by_side = {
        "candidate": [record for record in served if record.model_version == candidate],
        "champion": [record for record in served if record.model_version == champion],
    }
    figures: dict[str, Any] = {name: side_figures(side) for name, side in by_side.items()}
    figures.update(candidate_version=candidate, champion_version=champion, since=started_at.isoformat())
    bake_over = started_at + timedelta(minutes=settings.bake_minutes)
    if now < bake_over:
        return {"decision": BAKING, "reasons": [f"baking until {bake_over.isoformat()}"], "figures": figures}
    short = [name for name, side in by_side.items() if len(side) < settings.min_requests]
    if short:
        counts = ", ".join(f"{name} {len(by_side[name])}" for name in short)
        return {
            "decision": BAKING,
            "reasons": [f"too few requests to judge ({counts} < release.canary.min_requests {settings.min_requests})"],
            "figures": figures,
        }
    reasons = []
    mine, theirs = figures["candidate"], figures["champion"]
    increase = mine["error_rate"] - theirs["error_rate"]
    figures["error_rate_increase"] = round(increase, 6)
    if increase > settings.max_error_rate_increase:
        reasons.append(
            f"error rate {mine['error_rate']:.1%} vs the champion's {theirs['error_rate']:.1%} "
            f"(more than {settings.max_error_rate_increase:.1%} above)"
        )
    if mine["p99_ms"] is not None and theirs["p99_ms"]:
        ratio = mine["p99_ms"] / theirs["p99_ms"]
        figures["p99_ratio"] = round(ratio, 3)
        if ratio > settings.max_p99_ratio and mine["p99_ms"] - theirs["p99_ms"] >= settings.min_p99_increase_ms:
            reasons.append(
                f"p99 {mine['p99_ms']:.1f} ms vs the champion's {theirs['p99_ms']:.1f} ms "
                f"(over {settings.max_p99_ratio:g}x)"
            )
    distance = prediction_distance(schema, features, by_side["candidate"], by_side["champion"], candidate, champion)
    figures["prediction_distance"] = distance
    if distance is not None and distance > settings.max_prediction_distance:
        label = next(f for f in features if f.prediction)
        measure = compare.SHOWN[label.kind]
        reasons.append(
            f"predictions differ from the champion's: {measure} {distance:.3f} > {settings.max_prediction_distance:g}"
        )
    accuracy = labelled()
    figures["labelled"] = accuracy or "no labels arrived newer than both versions' training spans"
    if accuracy is not None and accuracy["regressed"]:
        reasons.append(
            f"{accuracy['metric']} on {accuracy['records']} newly labelled records: {accuracy['candidate']:.4g} vs the "
            f"champion's {accuracy['champion']:.4g} (more than {accuracy['max_regression']:g} worse)"
        )
    if reasons:
        return {"decision": ROLLBACK, "reasons": reasons, "figures": figures}
    return {
        "decision": PROMOTE,
        "reasons": ["within every bound: error rate, p99 latency and predictions beside the champion's"],
        "figures": figures,
    }


def prediction_distance(
    schema: Any,
    features: Sequence[compare.Feature],
    candidate_records: Sequence[LoggedRequest],
    champion_records: Sequence[LoggedRequest],
    candidate: str,
    champion: str,
) -> float | None:
    """TFDV's distance between the two sides' predicted labels (the label feature's comparator)."""
    label = next(f for f in features if f.prediction)
    frames = [
        compare.window_data(candidate_records, features, candidate).frame[[label.name]],
        compare.window_data(champion_records, features, champion).frame[[label.name]],
    ]
    if any(frame[label.name].dropna().empty for frame in frames):
        return None
    mine, theirs = (compare.statistics(frame) for frame in frames)
    distances, _, _ = compare.compare(schema, [label], theirs, mine, None)
    return compare.finite(distances.get(label.name))


def labelled_accuracy(config: Any, store: Any, registry: Any, candidate: str, champion: str) -> dict[str, Any] | None:
    """Both versions scored by the gate metric on the spans newer than either's training spans (labels that
    arrived since), or None when there are none."""
    from pipelines.sources import pipeline_sources
    from release.datacheck.evaluate import evaluate
    from release.datacheck.rules import load_rules

    versions = {name: registry.get(version) for name, version in (("candidate", candidate), ("champion", champion))}
    trained = max((span.number for v in versions.values() for span in v.lineage.spans), default=0)
    newer = [number for number in store.span_numbers() if number > trained]
    sources = pipeline_sources(config.dataset)
    rules = load_rules(sources.schema_file, sources.definition().LABEL)
    rows: list[list[str]] = []
    for number in newer:
        data = store.span_rows(number)
        if data:
            rows += [row for row in csv.reader(io.StringIO(data.decode()))][1:]
    if not rows:
        return None
    gate = config.evaluation.gate
    scored = {name: evaluate(v.uri, v.version, rows, rules, gate)["value"] for name, v in versions.items()}
    bound = config.evaluation.max_regression
    worse = (
        scored["champion"] - scored["candidate"]
        if gate.direction == "higher"
        else scored["candidate"] - scored["champion"]
    )
    return {
        "metric": gate.name,
        "spans": newer,
        "records": len(rows),
        "candidate": scored["candidate"],
        "champion": scored["champion"],
        "max_regression": bound,
        "regressed": worse > bound,
    }


def running_canary(mover: Any, *, settle: bool) -> Any:
    """The running canary (release.promotion.canary.RunningCanary) or None; `settle`: settle pending moves
    first (locally; on Google Cloud the monitor only reads, and the canary build settles)."""
    from release.promotion import canary as canaries
    from release.promotion.journal import committed

    if not settle:
        return canaries.running_in(committed(mover.entries()), mover.current())
    with mover.locked():
        mover.settle()
        return canaries.running(mover)


def verdict_key(running: Any) -> str:
    """Where a canary's verdict is kept in the data area: monitoring/canary/<version>-<start>.json."""
    started = datetime.fromisoformat(running.started_at)
    return f"monitoring/canary/{running.candidate}-{started.strftime('%Y%m%dT%H%M%S')}.json"


def apply_verdict(mover: Any, store: Any, *, by: str) -> Any:
    """End the running canary as its stored verdict says (`models canary settle`, and the local monitor); the
    move, or None when no canary runs or its verdict is not in yet."""
    import json

    from release.promotion import canary as canaries

    with mover.locked():
        mover.settle()
        running = canaries.running(mover)
    if running is None:
        return None
    data = store.read(verdict_key(running))
    if data is None:
        return None
    verdict = json.loads(data)
    if verdict.get("decision") not in (PROMOTE, ROLLBACK):
        raise ValueError(f"{verdict_key(running)}: no decision to apply ({verdict.get('decision')!r})")
    reason = f"canary {verdict['decision']}: " + "; ".join(verdict["reasons"])
    return canaries.finish(
        mover, verdict["decision"], by=by, reason=reason, figures=verdict["figures"], candidate=running.candidate
    )


def announce_verdict(gcp: Any, pipeline: str, running: Any, credentials: Any = None) -> str:
    """Wake the pipeline's canary build: one message on <prefix>-<pipeline>-canary-verdict (attributes pipeline,
    version, verdict: the stored verdict's key), whose Pub/Sub-triggered build applies the stored verdict as the
    account that moves the champion (`models canary settle`). The monitor can publish there and nothing more:
    it cannot start builds. The message id."""
    from release.monitor.act import publish

    topic = f"projects/{gcp.project}/topics/{gcp.pipeline_resource(pipeline, 'canary-verdict')}"
    attributes = {"pipeline": pipeline, "version": running.candidate, "verdict": verdict_key(running)}
    return publish(topic, b"", attributes, credentials)
