"""How a run's outcome reads, for a RunSummary (fresh from ML Metadata) and a stored run record alike.

Standard library only: the runs CLI imports it without ML Metadata or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Outcome(Protocol):
    """What outcome_lines reads (read-only, so both dataclasses match)."""

    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def baseline_metrics(self) -> Mapping[str, float]: ...
    @property
    def blessed(self) -> bool | None: ...
    @property
    def validation_failures(self) -> Sequence[str]: ...
    @property
    def pushed_version(self) -> str | None: ...
    @property
    def pushed_path(self) -> str | None: ...
    @property
    def pushed_by_this_run(self) -> bool: ...
    @property
    def promotion(self) -> str | None: ...


def outcome_lines(outcome: Outcome) -> list[str]:
    """Evaluation metrics (against the baseline), blessing with failed checks, the pushed version, its promotion."""
    lines = []
    if outcome.metrics:
        lines.append("evaluation (eval split):")
        for name, value in sorted(outcome.metrics.items()):
            baseline = outcome.baseline_metrics.get(name)
            versus = f"  (baseline {baseline:.4f})" if baseline is not None else ""
            lines.append(f"  {name}: {value:.4f}{versus}")
    if outcome.blessed is not None:
        lines.append(f"blessed: {'yes' if outcome.blessed else 'NO'}")
        lines.extend(f"  failed: {failure}" for failure in outcome.validation_failures)
    if outcome.pushed_version:
        how = "pushed by this run" if outcome.pushed_by_this_run else "cached: pushed by an earlier run, no new version"
        lines.append(f"model version: {outcome.pushed_version} ({how})")
        lines.append(f"  path: {outcome.pushed_path}")
        if outcome.promotion:
            # What auto-promotion did: "champion", or "not promoted: <why>" (a failed smoke test, say).
            lines.append(f"  promotion: {outcome.promotion}")
    elif outcome.blessed is not None:
        lines.append("model version: none pushed (not blessed)")
    return lines
