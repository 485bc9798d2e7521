"""Pipeline parameters: the one set of names, types and ranges used by runners, compile, submit and messages.

Pure Python on purpose (no TFX import), so light callers can validate values before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
        low_ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        if not low_ok or value > self.maximum:
            low = "(" if self.exclusive_minimum else "["
            raise ValueError(f"{self.name}: {value!r} is outside {low}{self.minimum}, {self.maximum}]")
        return int(value) if self.ptype is int else float(value)


NUM_EPOCHS = Parameter("num_epochs", int, default=20, minimum=1, maximum=1000)
LEARNING_RATE = Parameter("learning_rate", float, default=0.01, minimum=0.0, maximum=1.0, exclusive_minimum=True)
HYPERPARAMETERS = (NUM_EPOCHS, LEARNING_RATE)
# The data span(s) a run trains on, inclusive; 0 and 0 mean the newest span. Today start == end.
SPAN_START = Parameter("span_start", int, default=0, minimum=0, maximum=1_000_000)
SPAN_END = Parameter("span_end", int, default=0, minimum=0, maximum=1_000_000)
SPANS = (SPAN_START, SPAN_END)
PIPELINE_PARAMETERS = (*HYPERPARAMETERS, *SPANS)


def validate_span_range(start: int, end: int) -> tuple[int, int]:
    """Both 0 (the newest span) or 1 <= start <= end; raises ValueError naming what is wrong."""
    start, end = int(SPAN_START.validate(start)), int(SPAN_END.validate(end))
    if (start == 0) != (end == 0):
        raise ValueError(f"span_start/span_end: give both (1 <= start <= end) or neither, got {start}..{end}")
    if start > end:
        raise ValueError(f"span_start: {start} is after span_end {end}")
    if start != end:
        # TFX 1.16's ExampleGen ingests one span per execution; a window of spans needs one ExampleGen
        # execution per span and a resolver over them, which the rolling-window retraining will add.
        raise ValueError(f"span_start/span_end: a run reads one span (TFX ExampleGen); got {start}..{end}")
    return start, end
