"""Pipeline parameters: the one set of names, types and ranges used by runners, compile, submit and messages.

Pure Python on purpose (no TFX import), so light callers can validate values before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Parameter:
    name: str
    ptype: type
    default: int | float
    minimum: int | float
    maximum: int | float
    # True when the minimum itself is not allowed (learning_rate must be > 0).
    exclusive_minimum: bool = False

    def validate(self, value: object) -> int | float:
        """Return `value` if it is a valid value of this parameter, else raise ValueError naming it."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name}: expected {self.ptype.__name__}, got {value!r}")
        if self.ptype is int and not isinstance(value, int):
            raise ValueError(f"{self.name}: expected int, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{self.name}: must be a finite number, got {value!r}")
        if not self.contains(value):
            raise ValueError(f"{self.name}: {value!r} is outside {self.range_text()}")
        return int(value) if self.ptype is int else float(value)

    def contains(self, number: int | float | Decimal) -> bool:
        """Whether a finite number is in this parameter's range (exact for a Decimal, as messages parse them)."""
        above = number > self.minimum if self.exclusive_minimum else number >= self.minimum
        return bool(above and number <= self.maximum)

    def range_text(self) -> str:
        """The range as an error message shows it: [1, 1000] or (0, 1]."""
        low = "(" if self.exclusive_minimum else "["
        return f"{low}{_number(self.minimum)}, {_number(self.maximum)}]"


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


NUM_EPOCHS = Parameter("num_epochs", int, default=20, minimum=1, maximum=1000)
LEARNING_RATE = Parameter("learning_rate", float, default=0.01, minimum=0.0, maximum=1.0, exclusive_minimum=True)
HYPERPARAMETERS = (NUM_EPOCHS, LEARNING_RATE)
# The data spans a run trains on, inclusive; 0 and 0 mean the newest window (training.window_spans spans).
SPAN_START = Parameter("span_start", int, default=0, minimum=0, maximum=1_000_000)
SPAN_END = Parameter("span_end", int, default=0, minimum=0, maximum=1_000_000)
SPANS = (SPAN_START, SPAN_END)
PIPELINE_PARAMETERS = (*HYPERPARAMETERS, *SPANS)
# How many spans one run may read: a bound on the ExampleGen's input, checked before anything runs.
MAX_WINDOW_SPANS = 100
# An environment setting, not a run parameter: how many of the newest spans the rolling window holds.
WINDOW_SPANS = Parameter("window_spans", int, default=3, minimum=1, maximum=MAX_WINDOW_SPANS)


def span_range_problem(start: int, end: int) -> tuple[str, str] | None:
    """What is wrong with a span range of two in-range spans, as (field, reason); None if it is valid.

    The rule: both 0 (the newest window) or 1 <= start <= end with at most MAX_WINDOW_SPANS spans. The
    field is the one to change, so a message refused for it names that field.
    """
    if (start == 0) != (end == 0):
        missing = SPAN_END.name if start else SPAN_START.name
        return missing, f"give both span_start and span_end (1 <= start <= end) or neither; got {start}..{end}"
    if start > end:
        return SPAN_START.name, f"{start} is after span_end {end}"
    if end - start + 1 > MAX_WINDOW_SPANS:
        return SPAN_END.name, f"a run reads at most {MAX_WINDOW_SPANS} spans, got {start}..{end}"
    return None


def validate_span_range(start: int, end: int) -> tuple[int, int]:
    """Both 0 (the newest window) or 1 <= start <= end (at most MAX_WINDOW_SPANS spans); raises ValueError
    naming what is wrong."""
    start, end = int(SPAN_START.validate(start)), int(SPAN_END.validate(end))
    problem = span_range_problem(start, end)
    if problem is not None:
        raise ValueError(f"{problem[0]}: {problem[1]}")
    return start, end


def newest_window(newest_span: int, window_spans: int) -> tuple[int, int]:
    """The rolling window ending at `newest_span`: its `window_spans` newest spans, or all if fewer exist."""
    newest_span, window_spans = int(SPAN_END.validate(newest_span)), int(WINDOW_SPANS.validate(window_spans))
    if newest_span < 1:
        raise ValueError(f"newest span: expected a span number >= 1, got {newest_span}")
    return max(1, newest_span - window_spans + 1), newest_span
