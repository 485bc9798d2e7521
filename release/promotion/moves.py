"""Moving the champion: promotion of a blessed version, rollback to an earlier champion.

Every move is checked first (the version exists, is blessed, the approval is there where the environment
requires one) and smoke-tested, all under the registry lock, so two promotions at once are serialised and
the history and the alias agree; a failed check changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal

from contracts.registry import (
    CHAMPION,
    AliasMove,
    ModelVersion,
    NoEarlierChampionError,
    NotPromotableError,
    Registry,
    RegistryError,
)

SmokeTest = Callable[[ModelVersion], None]


def _default_smoke(version: ModelVersion) -> None:
    from components.registry.smoke import smoke_test

    smoke_test(version)


def _already_tested(version: ModelVersion) -> None:
    """The smoke test of a version that already passed one when it became champion."""


def _check_approval(registry: Registry, approved_by: str | None) -> None:
    if not registry.target.auto_promote and not approved_by:
        raise NotPromotableError(
            f"{registry.target.model_name}: this environment promotes only with a recorded approval "
            "(release.auto_promote is false): pass --approve NAME"
        )


def move_champion(
    registry: Registry,
    version: str,
    *,
    by: str,
    reason: str,
    kind: Literal["promote", "rollback"] = "promote",
    approved_by: str | None = None,
    smoke: SmokeTest = _default_smoke,
) -> AliasMove | None:
    """Point `champion` at `version`; None if it already is (nothing recorded). Raises RegistryError."""
    _check_approval(registry, approved_by)
    with registry.locked():
        target = registry.get(version)
        if not target.blessed:
            raise NotPromotableError(f"version {version} is not blessed: it may not serve")
        current = registry.alias_version(CHAMPION)
        if current == version:
            return None
        smoke(target)
        move = AliasMove(
            alias=CHAMPION,
            from_version=current,
            to_version=version,
            at=datetime.now(timezone.utc).isoformat(),
            by=by,
            reason=reason,
            kind=kind,
            approved_by=approved_by,
        )
        return registry.move_alias(move)


def previous_champion(registry: Registry) -> str:
    """The champion before the current one: where the last move onto the current champion came from."""
    current = registry.alias_version(CHAMPION)
    if current is None:
        raise NoEarlierChampionError("there is no champion to roll back from")
    for move in reversed(registry.history()):
        if move.alias == CHAMPION and move.to_version == current:
            if move.from_version is None:
                break
            return move.from_version
    raise NoEarlierChampionError(f"version {current} is the first champion: there is no earlier one to roll back to")


def rollback(
    registry: Registry,
    *,
    to: str | None,
    by: str,
    reason: str,
    approved_by: str | None = None,
    smoke: SmokeTest = _default_smoke,
) -> AliasMove:
    """Move the champion back to `to`, or to the previous champion; no retraining, no rebuild.

    A version that has been champion before passed its smoke test then, and its files are content-addressed
    and immutable, so rolling back to it skips the test: the emergency path is one alias move (seconds).
    """
    target = to or previous_champion(registry)
    served_before = any(m.alias == CHAMPION and m.to_version == target for m in registry.history())
    test = _already_tested if served_before else smoke
    move = move_champion(registry, target, by=by, reason=reason, kind="rollback", approved_by=approved_by, smoke=test)
    if move is None:
        raise RegistryError(f"version {target} is already the champion: nothing to roll back")
    return move
