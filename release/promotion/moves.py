"""Moving the champion: promote, auto-promote, roll back, repair. The same rules on both backends.

Each move settles what an earlier, stopped move left pending, checks the version (blessed, the approval where
the environment needs one, the model tests passed), then makes the move as one recorded transaction
(release/promotion/journal.py), all under the registry's lock where the backend has one. A check that fails
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from contracts.registry import (
    CHAMPION,
    AliasMove,
    ModelVersion,
    NotPromotableError,
    Registry,
    RegistryError,
    RegistryTarget,
    SmokeTestFailedError,
)
from release.model_tests.records import Outcome, Outcomes, now
from release.promotion.journal import Entry, Mover, committed
from release.promotion.rules import auto_promotion_refusal, previous_champion, served_before

# Runs the model tests on a version: returns quietly, or raises SmokeTestFailedError.
Tester = Callable[[ModelVersion], None]


def open_mover(registry: Any, **options: Any) -> Mover:
    """The mover of `registry`'s backend (options: the backend's, e.g. after_step for tests)."""
    if registry.target.backend == "mlflow":
        from release.promotion.local_mover import LocalMover

        return LocalMover(registry, **options)
    from release.promotion.vertex_mover import VertexMover

    return VertexMover(registry, **options)


class ModelTestGate:
    """The model tests a version must have passed before the champion moves to it.

    A passing outcome recorded for this version and these tests is enough (they are deterministic on the same
    files): the move then needs no TensorFlow and no registry read. Otherwise the tester runs now (started only
    then, so a version tested before costs nothing), and its verdict is recorded either way.
    """

    def __init__(self, outcomes: Outcomes, tests_sha256: str, start: Callable[[], Tester], by: str) -> None:
        self.outcomes, self.tests_sha256, self.start, self.by = outcomes, tests_sha256, start, by

    def require(self, registry: Registry, version: str) -> None:
        recorded = self.outcomes.find(version, self.tests_sha256)
        if recorded is not None:
            if not recorded.passed:
                raise SmokeTestFailedError(f"{recorded.detail} (recorded {recorded.at[:19]} by {recorded.by})")
            return
        tester = self.start()
        try:
            candidate = registry.get(version)
            if not candidate.blessed:
                raise NotPromotableError(f"version {version} is not blessed: it may not serve")
            self.run(tester, candidate)
        finally:
            close = getattr(tester, "close", None)
            if close is not None:
                close()

    def run(self, tester: Tester, candidate: ModelVersion) -> Outcome:
        """Test `candidate` and record the verdict; raises SmokeTestFailedError when it fails."""
        try:
            tester(candidate)
        except SmokeTestFailedError as err:
            self._record(candidate, False, str(err))
            raise
        return self._record(candidate, True, "passed")

    def _record(self, candidate: ModelVersion, passed: bool, detail: str) -> Outcome:
        outcome = Outcome(
            version=candidate.version,
            content_sha256=candidate.content_sha256,
            tests_sha256=self.tests_sha256,
            passed=passed,
            detail=detail,
            at=now(),
            by=self.by,
        )
        return self.outcomes.record(outcome)


def check_approval(target: RegistryTarget, approved_by: str | None) -> None:
    if not target.auto_promote and not approved_by:
        raise NotPromotableError(
            f"{target.model_name}: this environment moves the champion only with a recorded approval "
            "(release.auto_promote is false): pass --approve NAME"
        )


def _move(current: str | None, version: str, kind: Literal["promote", "rollback"], **who: Any) -> AliasMove:
    at = datetime.now(timezone.utc).isoformat()
    return AliasMove(alias=CHAMPION, from_version=current, to_version=version, at=at, kind=kind, **who)


def promote(
    mover: Mover,
    version: str,
    gate: ModelTestGate,
    *,
    by: str,
    reason: str,
    approved_by: str | None = None,
) -> AliasMove | None:
    """Make `version` the champion; None if it already is (nothing recorded). Raises RegistryError."""
    check_approval(mover.registry.target, approved_by)
    with mover.locked():
        mover.settle()
        current = mover.current()
        if current == version:
            return None
        gate.require(mover.registry, version)
        return mover.apply(_move(current, version, "promote", by=by, reason=reason, approved_by=approved_by))


def rollback(
    mover: Mover,
    gate: ModelTestGate,
    *,
    to: str | None,
    by: str,
    reason: str,
    approved_by: str | None = None,
) -> AliasMove:
    """The champion back to `to`, or to the champion before this one (rules.previous_champion).

    A version that was champion before passed its tests then, and its files are content-addressed and
    immutable, so the emergency path is the move alone (no TensorFlow, no test).
    """
    check_approval(mover.registry.target, approved_by)
    with mover.locked():
        mover.settle()
        current = mover.current()
        history = committed(mover.entries())
        target = to or previous_champion(history, current)
        if target == current:
            raise RegistryError(f"version {target} is already the champion: nothing to roll back")
        if not served_before(history, target):
            gate.require(mover.registry, target)
        return mover.apply(_move(current, target, "rollback", by=by, reason=reason, approved_by=approved_by))


def rollback_target(mover: Mover) -> str:
    """The version a plain `rollback` would go to now (what an approver is asked to approve)."""
    with mover.locked():
        mover.settle()
        return previous_champion(committed(mover.entries()), mover.current())


def auto_promote(mover: Mover, version: str, gate: ModelTestGate, *, by: str) -> AliasMove | None:
    """Promote a newly registered version where the environment promotes automatically. Idempotent.

    None if `version` is the champion already; NotPromotableError if auto-promotion is off here, or the version
    already served, was rolled away from, or is older than the champion (rules.auto_promotion_refusal).
    """
    target = mover.registry.target
    if not target.auto_promote:
        raise NotPromotableError(
            f"{target.model_name}: auto-promotion is off here (release.auto_promote: false); promote with an approval"
        )
    with mover.locked():
        mover.settle()
        current = mover.current()
        if current == version:
            return None
        refusal = auto_promotion_refusal(committed(mover.entries()), version, current)
        if refusal:
            raise NotPromotableError(refusal)
        gate.require(mover.registry, version)
        return mover.apply(_move(current, version, "promote", by=by, reason="auto-promotion: blessed and registered"))


def repair(mover: Mover) -> tuple[list[Entry], list[str]]:
    """Settle every pending move and bring serving to where the alias is: (moves settled, other changes)."""
    with mover.locked():
        settled = mover.settle()
        return settled, mover.reconcile()
