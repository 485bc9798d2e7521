"""Canary promotion: the candidate serves a share of the traffic beside the champion, then takes it all or is
rolled back, each step one recorded move (release/promotion/journal.py), with the same checks as a promotion.

    start     the `candidate` alias moved onto the version (kind canary, with its percent), after the approval
              where the environment needs one and the model tests: serving splits (the local server sends that
              share of the pipeline's requests to it; on Vertex, the endpoint's traffic split)
    promote   the champion moved onto the candidate (kind promote, with the figures that decided it): it takes
              all the traffic, and the candidate alias, on the champion now, names no canary
    rollback  the candidate alias moved back onto the champion (kind rollback, with the figures): the split ends

A canary is running while the candidate alias names a version other than the champion. Each step is a single
move, so a canary stopped anywhere (SIGKILL included) is settled by the next command as any move is: finished
if its commit point (the alias) was reached, else undone, and serving follows the aliases. The monitor judges a
running canary once its bake time is over (release/monitor/canary.py); `models canary` shows it and ends it
by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from contracts.registry import CANDIDATE, CHAMPION, AliasMove, NotPromotableError, RegistryError
from release.promotion.journal import Mover, committed
from release.promotion.moves import ModelTestGate, check_approval
from release.promotion.rules import auto_promotion_refusal


@dataclass(frozen=True)
class RunningCanary:
    """The canary in progress: its version, the champion beside it, its share and when it started."""

    candidate: str
    champion: str
    percent: int
    started_at: str
    started_by: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def running_in(history: list[AliasMove], champion: str | None) -> RunningCanary | None:
    """The canary the history leaves running beside `champion`, if any."""
    moves = [move for move in history if move.alias == CANDIDATE]
    if not moves or champion is None:
        return None
    last = moves[-1]
    if last.kind != "canary" or last.to_version == champion or last.percent is None:
        return None
    return RunningCanary(last.to_version, champion, last.percent, last.at, last.by)


def running(mover: Mover) -> RunningCanary | None:
    """The running canary (call with the mover locked and settled)."""
    return running_in(committed(mover.entries()), mover.current())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def start(
    mover: Mover,
    version: str,
    percent: int,
    gate: ModelTestGate,
    *,
    by: str,
    reason: str,
    approved_by: str | None = None,
    auto: bool = False,
) -> AliasMove | None:
    """Start a canary of `version` at `percent`; None if exactly that canary runs already. `auto`: as an
    auto-promotion (only where the environment auto-promotes, only a version that moves forward)."""
    if not 1 <= percent <= 99:
        raise RegistryError(f"a canary serves 1 to 99 percent of the traffic, not {percent}")
    target = mover.registry.target
    if auto and not target.auto_promote:
        raise NotPromotableError(
            f"{target.model_name}: auto-promotion is off here (release.auto_promote: false); promote with an approval"
        )
    if not auto:
        check_approval(target, approved_by)
    with mover.locked():
        mover.settle()
        champion = mover.current()
        if champion is None:
            raise NotPromotableError(
                f"{target.model_name} has no champion yet: a canary needs one to serve beside; promote {version} "
                "without --canary"
            )
        if version == champion:
            if auto:
                return None
            raise RegistryError(f"version {version} is the champion already: nothing to canary")
        history = committed(mover.entries())
        now = running_in(history, champion)
        if now is not None and now.candidate == version and now.percent == percent:
            return None
        if auto:
            refusal = auto_promotion_refusal(history, version, champion)
            if refusal:
                raise NotPromotableError(refusal)
        gate.require(mover.registry, version)
        move = AliasMove(
            alias=CANDIDATE,
            from_version=mover.registry.alias_version(CANDIDATE),
            to_version=version,
            at=_now(),
            by=by,
            reason=reason,
            kind="canary",
            approved_by=approved_by,
            percent=percent,
        )
        return mover.apply(move)


def finish(
    mover: Mover,
    decision: Literal["promote", "rollback"],
    *,
    by: str,
    reason: str,
    figures: dict[str, Any] | None = None,
    candidate: str | None = None,
) -> AliasMove:
    """End the running canary (of `candidate`, when given: a judge's verdict is about that version only)."""
    with mover.locked():
        mover.settle()
        now = running(mover)
        if now is None:
            raise RegistryError("no canary is running: nothing to end")
        if candidate is not None and now.candidate != candidate:
            raise RegistryError(f"the running canary is of version {now.candidate}, not {candidate}: not ended")
        # A promotion moves the champion onto the candidate; a rollback moves the candidate back onto the champion.
        promoting = decision == "promote"
        alias, start, end = (
            (CHAMPION, now.champion, now.candidate) if promoting else (CANDIDATE, now.candidate, now.champion)
        )
        move = AliasMove(
            alias=alias,
            from_version=start,
            to_version=end,
            at=_now(),
            by=by,
            reason=reason,
            kind=decision,
            figures=figures,
        )
        return mover.apply(move)
