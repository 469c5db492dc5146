"""TickStats and TickClock without ROS: window and whole-run percentiles, missed periods."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ros_harness import assert_imports_without_ros

from m3po_ros.tick_stats import TickClock, TickStats


def test_window_percentiles_are_exact_over_the_last_samples():
    s = TickStats(window=100)
    assert math.isnan(s.percentile(50)) and math.isnan(s.max()) and s.mean() == 0.0
    x = np.random.default_rng(0).exponential(1.0, 250)
    for v in x:
        s.add(float(v))
    recent = x[-100:]
    for q in (0, 50, 95, 99, 100):
        assert s.percentile(q) == float(np.percentile(recent, q))
    assert s.max() == recent.max()
    assert s.mean() == pytest.approx(recent.mean(), rel=1e-12)
    assert len(s.values) == 100 and s.run_count == 250


def test_run_percentiles_cover_every_sample_since_restart():
    s = TickStats(window=50, run_bins=True, resolution=0.01, max_value=10.0)
    assert math.isnan(s.run_percentile(99))
    x = np.random.default_rng(0).exponential(1.0, 20000)
    for v in x:
        s.add(float(v))
    for q in (50, 90, 99):  # the upper edge of the bin holding the rank: never below
        assert np.percentile(x, q) <= s.run_percentile(q) <= np.percentile(x, q) + 0.011
    assert s.run_percentile(100) == x.max() and s.run_count == len(x)
    s.add(50.0)  # past the last bin: counted in the overflow bin, the maximum is exact
    assert s.run_percentile(100) == 50.0
    assert s.run_percentile(99.999) == 50.0  # a rank in the overflow bin reports the max
    window = list(s.values)
    s.restart()
    assert s.run_count == 0 and math.isnan(s.run_percentile(50))
    assert list(s.values) == window  # the recent window outlives a restart
    s.add(0.0)
    assert s.run_percentile(50) == 0.01 and s.run_percentile(100) == 0.0


def test_run_percentile_needs_run_bins_and_arguments_are_checked():
    with pytest.raises(ValueError, match="keeps no run histogram"):
        TickStats().run_percentile(50)
    with pytest.raises(ValueError, match="window=0"):
        TickStats(window=0)
    with pytest.raises(ValueError, match="resolution=0.0"):
        TickStats(run_bins=True, resolution=0.0)


def test_tick_clock_counts_the_periods_a_timer_skipped():
    clock = TickClock(0.01)
    assert clock.tick(100.0) == 0  # the first tick starts the count
    assert clock.tick(100.01) == 0
    assert clock.tick(100.0249) == 0  # late, but within half a period of its slot
    assert clock.tick(100.06) == 3  # the 100.03, 100.04 and 100.05 periods were not served
    assert (clock.ticks, clock.missed) == (4, 3)
    assert clock.tick(100.07) == 0 and clock.missed == 3  # missed periods are counted once
    assert clock.phase_ms(100.073) == pytest.approx(3.0)
    clock.reset()
    assert (clock.ticks, clock.missed, clock.first_s) == (0, 0, None)
    assert clock.phase_ms(5.0) == 0.0
    assert clock.tick(200.0) == 0 and clock.ticks == 1
    with pytest.raises(ValueError, match="period_s=0"):
        TickClock(0.0)


def test_tick_stats_imports_without_ros():
    assert_imports_without_ros("m3po_ros.tick_stats")
