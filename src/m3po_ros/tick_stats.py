"""Per-tick statistics of the control loop, without ROS: timing samples and missed periods.

`TickStats` is the one type for a per-tick quantity (tick time, act() time, latency,
planner iterations): exact percentiles over a recent window and, optionally, binned
percentiles over every sample of the current run (since `restart()`), both from one `add`.
`TickClock` counts the timer periods a fixed-rate timer skipped.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class TickStats:
    """Samples of one per-tick quantity: a recent window and a whole-run histogram.

    The window holds the last `window` samples and gives exact percentiles (numpy's linear
    interpolation), as the budget margin and the recent diagnostics need. With `run_bins`,
    every sample since the last `restart()` is also counted in fixed bins of `resolution`
    up to `max_value` (one overflow bin): percentiles over runs of any length (a 10-minute
    soak at 100 Hz is 60,000 ticks) at O(1) per sample and 80 KB of memory. A run percentile
    is its bin's upper edge (rounded up, never flattering); the run maximum is exact.

    Args:
        window: number of recent samples kept for `percentile`, `max` and `mean`.
        run_bins: also keep the whole-run histogram (`run_percentile`).
        resolution: bin width of the histogram, in the samples' unit (ms for times).
        max_value: upper edge of the last regular bin; larger samples go to the overflow bin.
    """

    def __init__(
        self,
        window: int = 2000,
        run_bins: bool = False,
        resolution: float = 0.01,
        max_value: float = 100.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"TickStats window={window} must be at least 1")
        if run_bins and not (0.0 < resolution < max_value):
            raise ValueError(
                f"TickStats resolution={resolution} must be in (0, max_value={max_value})"
            )
        self.values: deque[float] = deque(maxlen=window)
        self.resolution = resolution
        self.nbins = int(round(max_value / resolution)) if run_bins else 0
        self.counts: np.ndarray | None = None
        self.run_count = 0  # samples since the last restart()
        self.run_max = -math.inf  # largest sample since the last restart()
        self._run_bins = run_bins
        self.restart()

    def add(self, value: float) -> None:
        """Record one sample in the window and, with run bins, in the run histogram."""
        self.values.append(value)
        self.run_count += 1
        if value > self.run_max:
            self.run_max = value
        if self.counts is not None:
            i = int(value / self.resolution) if value > 0.0 else 0
            self.counts[i if i < self.nbins else self.nbins] += 1

    # -- the recent window -----------------------------------------------------------------
    def percentile(self, q: float) -> float:
        """Exact `q`-th percentile (0-100) of the window; NaN when it is empty."""
        if not self.values:
            return math.nan
        return float(np.percentile(np.fromiter(self.values, float), q))

    def max(self) -> float:
        """Largest sample in the window; NaN when it is empty."""
        return max(self.values) if self.values else math.nan

    def mean(self) -> float:
        """Mean of the window; 0.0 when it is empty (a count of nothing)."""
        return sum(self.values) / len(self.values) if self.values else 0.0

    # -- the whole run ---------------------------------------------------------------------
    def restart(self) -> None:
        """Start a new run: the histogram forgets its samples, the window keeps them."""
        self.run_count = 0
        self.run_max = -math.inf
        if self._run_bins:
            self.counts = np.zeros(self.nbins + 1, np.int64)

    def run_percentile(self, q: float) -> float:
        """`q`-th percentile (0-100) over every sample since `restart()`; NaN when none.

        `q >= 100` is the exact maximum; below, the upper edge of the bin holding the rank.
        """
        if self.counts is None:
            raise ValueError("TickStats(run_bins=False) keeps no run histogram")
        if self.run_count == 0:
            return math.nan
        if q >= 100.0:
            return self.run_max
        rank = max(math.ceil(q / 100.0 * self.run_count), 1)
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        return self.run_max if i >= self.nbins else (i + 1) * self.resolution


class TickClock:
    """Missed-period accounting of a fixed-rate timer.

    rcl timers skip the periods they could not serve; counting from the first tick, the
    periods expected by `now` minus the ticks served is what was missed. Call `tick(now)`
    at the start of every timer callback with a monotonic time in seconds.

    Args:
        period_s: the timer's period, s.
    """

    def __init__(self, period_s: float) -> None:
        if not period_s > 0.0:
            raise ValueError(f"TickClock period_s={period_s} must be positive")
        self.period_s = period_s
        self.reset()

    def reset(self) -> None:
        """Forget every tick (on activation: the next tick is the first of a new run)."""
        self.first_s: float | None = None
        self.ticks = 0
        self.missed = 0

    def tick(self, now_s: float) -> int:
        """Count one served tick at `now_s`; returns how many periods were newly missed."""
        if self.first_s is None:
            self.first_s = now_s
        self.ticks += 1
        expected = int((now_s - self.first_s) / self.period_s + 0.5) + 1
        newly_missed = expected - self.ticks - self.missed
        if newly_missed > 0:
            self.missed += newly_missed
            return newly_missed
        return 0

    def phase_ms(self, now_s: float) -> float:
        """How far into its period a callback at `now_s` came, ms (0 before the first tick)."""
        if self.first_s is None:
            return 0.0
        return ((now_s - self.first_s) % self.period_s) * 1000.0
