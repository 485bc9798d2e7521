"""The monitor's windows: the requests logged in [start, end), windows aligned to multiples of their length.

A run looks at the last complete window by default (the one that ended at or before now), so two runs in the
same window (a redelivered schedule, a retry) decide on the same requests, and a window's id names it in the
data area (monitoring/<id>/) and in the retraining message's idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def id(self) -> str:
        """e.g. 20261205T0500Z-60m: the start (UTC, to the minute) and the length."""
        return f"{self.start.strftime('%Y%m%dT%H%MZ')}-{self.minutes}m"

    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)

    def following(self) -> Window:
        return Window(self.end, self.end + (self.end - self.start))

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "start": _text(self.start), "end": _text(self.end)}


def _text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_ending(moment: datetime, minutes: int) -> Window:
    """The window of `minutes` that ends at `moment` rounded down to a multiple of `minutes` (since the epoch)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()}: a window's time needs a time zone (UTC: ...Z)")
    if minutes < 1:
        raise ValueError(f"a window is at least one minute long, not {minutes}")
    length = timedelta(minutes=minutes)
    end = EPOCH + ((moment.astimezone(timezone.utc) - EPOCH) // length) * length
    return Window(end - length, end)


def parse_moment(text: str) -> datetime:
    """A time given on the command line: ISO 8601 with a zone (2026-12-05T06:00Z, ...+01:00)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-12-05T06:00Z)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z for UTC)")
    return moment
