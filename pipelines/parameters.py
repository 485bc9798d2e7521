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
