"""Which version a move may take, read from the history alone (the committed moves, oldest first).

Rollback goes to "the champion before this one", following the history back past every version that was
rolled away from: after promotions of 1, 2 and 3, a rollback makes 2 the champion, a second one makes 1 the
champion (never 3 again: it was rolled away from), and a third refuses (there is no earlier champion). A
version stops counting as rolled away from once a later move makes it champion again (an explicit
`promote` or `rollback --to`).

Auto-promotion only ever moves forward: it takes a version that never served (never champion, never rolled
away from) and is newer than the champion, so a re-announced, older or withdrawn version stays where it is.
"""

from __future__ import annotations

from contracts.registry import CHAMPION, AliasMove, NoEarlierChampionError


def rolled_away(history: list[AliasMove]) -> set[str]:
    """Versions a rollback moved the champion away from, and that no move has made champion since."""
    away: set[str] = set()
    for move in history:
        if move.alias != CHAMPION:
            continue
        away.discard(move.to_version)
        if move.kind == "rollback" and move.from_version:
            away.add(move.from_version)
    return away


def champions(history: list[AliasMove]) -> list[str]:
    """Every champion in order, repeats included (the first move's from_version too, if the history has one)."""
    moves = [move for move in history if move.alias == CHAMPION]
    first = [moves[0].from_version] if moves and moves[0].from_version else []
    return first + [move.to_version for move in moves]


def previous_champion(history: list[AliasMove], current: str | None) -> str:
    """The champion before `current`, skipping versions rolled away from. Raises NoEarlierChampionError."""
    if current is None:
        raise NoEarlierChampionError("there is no champion to roll back from")
    away = rolled_away(history)
    for version in reversed(champions(history)):
        if version != current and version not in away:
            return version
    skipped = sorted(away - {current}, key=_order)
    why = f" (rolled away from: {', '.join(skipped)})" if skipped else ""
    raise NoEarlierChampionError(f"version {current}: there is no earlier champion to roll back to{why}")


def served_before(history: list[AliasMove], version: str) -> bool:
    """Whether `version` was champion at some point (it passed its tests then)."""
    return version in champions(history)


def auto_promotion_refusal(history: list[AliasMove], version: str, current: str | None) -> str | None:
    """Why auto-promotion must not take `version` (not the champion), or None if it may."""
    rollbacks = [m for m in history if m.alias == CHAMPION and m.kind == "rollback" and m.from_version == version]
    if rollbacks:
        return (
            f"version {version} was rolled away from ({rollbacks[-1].at[:19]}, {rollbacks[-1].reason}): "
            f"auto-promotion never brings it back; `models promote {version}` does, by hand"
        )
    if served_before(history, version):
        return f"version {version} was champion before and was replaced: auto-promotion only moves forward"
    if current is not None and _order(version) < _order(current):
        return f"version {version} is older than the champion {current}: auto-promotion only moves forward"
    return None


def _order(version: str) -> tuple[int, str]:
    """Both registries number versions 1, 2, 3, ...: numeric order, text as a fallback."""
    return (int(version), "") if version.isdigit() else (0, version)
