"""Smooth bounded reward terms in [0, 1] (the shaping of dm_control's `rewards.tolerance`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_SIGMOIDS = ("gaussian", "quadratic", "linear", "long_tail")


@dataclass(frozen=True)
class Tolerance:
    """1 inside `bounds`, falling to `value_at_margin` at `margin` outside them, via `sigmoid`.

    Scalar and math-only on purpose: it runs once per step per term, where a numpy call
    would cost ten times more.
    """

    lower: float  # lower bound of the region that earns the full reward 1
    upper: float  # upper bound of that region
    margin: float = 0.0  # distance outside the bounds at which the value is value_at_margin
    sigmoid: str = "gaussian"  # gaussian | quadratic | linear | long_tail
    value_at_margin: float = 0.1  # value at exactly `margin` outside the bounds, in [0, 1)
    _scale: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise ValueError(f"Tolerance: lower={self.lower} > upper={self.upper}")
        if self.margin < 0:
            raise ValueError(f"Tolerance: margin={self.margin} < 0")
        if self.sigmoid not in _SIGMOIDS:
            raise ValueError(f"Tolerance: sigmoid={self.sigmoid!r} not in {_SIGMOIDS}")
        v = self.value_at_margin
        if not 0.0 <= v < 1.0 or (self.sigmoid in ("gaussian", "long_tail") and v <= 0.0):
            raise ValueError(f"Tolerance: value_at_margin={v} invalid for {self.sigmoid}")
        if self.sigmoid == "gaussian":
            scale = math.sqrt(-2.0 * math.log(v))
        elif self.sigmoid == "quadratic":
            scale = math.sqrt(1.0 - v)
        elif self.sigmoid == "linear":
            scale = 1.0 - v
        else:
            scale = math.sqrt(1.0 / v - 1.0)
        object.__setattr__(self, "_scale", scale)

    def __call__(self, x: float) -> float:
        """Reward in [0, 1] for the value `x`: 1 inside the bounds, the sigmoid outside."""
        if self.lower <= x <= self.upper:
            return 1.0
        if self.margin == 0.0:
            return 0.0
        d = ((self.lower - x) if x < self.lower else (x - self.upper)) / self.margin
        s = d * self._scale
        if self.sigmoid == "gaussian":
            return math.exp(-0.5 * s * s)
        if self.sigmoid == "quadratic":
            return 1.0 - s * s if s < 1.0 else 0.0
        if self.sigmoid == "linear":
            return 1.0 - s if s < 1.0 else 0.0
        return 1.0 / (s * s + 1.0)


def small_control(mean_square_action: float) -> float:
    """(4 + tolerance(mean a^2, margin 1, quadratic, value 0 at the margin)) / 5, in [0.8, 1].

    1 at zero effort, 0.8 at full effort (dm_control cartpole's term): effort is
    discouraged, never forbidden. The tolerance is written out: this runs every step.
    """
    x = mean_square_action
    return (4.0 + (1.0 - x * x if x < 1.0 else 0.0)) * 0.2
