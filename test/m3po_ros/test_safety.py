"""Safety layer without ROS: limits, rate limit, watchdog, e-stop, NaN/Inf rejection."""

import numpy as np
import pytest

from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_ros.safety import EStopLatch, SafetyConfig, SafetyLayer, SafetyState

URDF = {
    "a": JointLimit("a", 4.0, 2.0, (-1.0, 1.0)),
    "b": JointLimit("b", 1.0, 3.0, (-np.inf, np.inf)),
    "c": JointLimit("c", 9.0, 0.0, (0.0, 0.0)),
}
DT = 0.02


def layer(**kw) -> SafetyLayer:
    cfg = SafetyConfig(**{"max_effort_rate": 1e6, **kw})
    return SafetyLayer(ActionSpec.from_limits(["a", "b"], URDF), cfg)


def test_effort_clipped_to_urdf_limit_and_fraction():
    s = layer()
    cmd, state = s.filter(np.array([10.0, -10.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    assert state == SafetyState.OK
    np.testing.assert_array_equal(cmd, [4.0, -1.0])
    s = layer(max_effort_fraction=0.5)
    cmd, _ = s.filter(np.array([10.0, -10.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    np.testing.assert_array_equal(cmd, [2.0, -0.5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_command_never_passes(bad):
    s = layer()
    s.filter(np.array([1.0, 0.5]), np.zeros(2), np.zeros(2), 0.0, DT)
    cmd, state = s.filter(np.array([bad, 0.5]), np.zeros(2), np.zeros(2), 0.0, DT)
    assert state == SafetyState.REJECTED and np.all(np.isfinite(cmd))
    np.testing.assert_array_equal(cmd, [0.0, 0.0])
    assert s.counters.rejected_commands == 1


def test_non_finite_sensor_gives_safe_command():
    s = layer()
    cmd, state = s.filter(np.array([1.0, 0.5]), np.array([np.nan, 0]), np.zeros(2), 0.0, DT)
    assert state == SafetyState.REJECTED and np.all(cmd == 0)


def test_position_limit_cuts_outward_effort_only():
    s = layer(position_margin=0.1)
    q = np.array([0.95, 0.0])
    cmd, _ = s.filter(np.array([3.0, 0.5]), q, np.zeros(2), 0.0, DT)
    np.testing.assert_array_equal(cmd, [0.0, 0.5])  # pushing past the upper limit: cut
    cmd, _ = s.filter(np.array([-3.0, 0.5]), q, np.zeros(2), 0.0, DT)
    np.testing.assert_array_equal(cmd, [-3.0, 0.5])  # pulling back inside: allowed


def test_velocity_limit_cuts_accelerating_effort():
    s = layer()
    v = np.array([2.5, -3.5])
    cmd, _ = s.filter(np.array([1.0, -0.5]), np.zeros(2), v, 0.0, DT)
    np.testing.assert_array_equal(cmd, [0.0, 0.0])
    cmd, _ = s.filter(np.array([-1.0, 0.5]), np.zeros(2), v, 0.0, DT)
    np.testing.assert_array_equal(cmd, [-1.0, 0.5])  # braking is allowed


def test_rate_limit_bounds_change_per_tick():
    s = layer(max_effort_rate=10.0)  # 10 effort limits per second -> 0.2 per 20 ms tick
    steps = []
    for _ in range(10):
        cmd, _ = s.filter(np.array([4.0, -1.0]), np.zeros(2), np.zeros(2), 0.0, DT)
        steps.append(cmd)
    d = np.diff(np.vstack([[0, 0]] + steps), axis=0)
    assert np.all(np.abs(d) <= np.array([0.2 * 4.0, 0.2 * 1.0]) + 1e-12)
    np.testing.assert_allclose(steps[-1], [4.0, -1.0])


def test_watchdog_trips_on_stale_sensors_and_recovers():
    s = layer(sensor_timeout_s=0.1)
    cmd, state = s.filter(np.array([1.0, 0.5]), np.zeros(2), np.zeros(2), None, DT)
    assert state == SafetyState.NO_SENSORS and np.all(cmd == 0)
    s.filter(np.array([1.0, 0.5]), np.zeros(2), np.zeros(2), 0.01, DT)
    cmd, state = s.filter(np.array([1.0, 0.5]), np.zeros(2), np.zeros(2), 0.5, DT)
    assert state == SafetyState.STALE and np.all(cmd == 0)
    assert s.counters.watchdog_trips == 1
    cmd, state = s.filter(np.array([1.0, 0.5]), np.zeros(2), np.zeros(2), 0.01, DT)
    assert state == SafetyState.OK
    np.testing.assert_array_equal(cmd, [1.0, 0.5])


def test_estop_is_immediate_and_latched():
    s = layer(max_effort_rate=1.0)
    for _ in range(100):
        s.filter(np.array([4.0, 1.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    s.estop = True
    cmd, state = s.filter(np.array([4.0, 1.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    assert state == SafetyState.ESTOP and np.all(cmd == 0)  # not rate limited
    cmd, state = s.filter(np.array([4.0, 1.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    assert state == SafetyState.ESTOP
    s.estop = False
    _, state = s.filter(np.array([4.0, 1.0]), np.zeros(2), np.zeros(2), 0.0, DT)
    assert state == SafetyState.OK


def test_random_inputs_always_give_finite_commands_within_limits():
    rng = np.random.default_rng(0)
    s = layer(max_effort_rate=20.0)
    for _ in range(2000):
        u = rng.normal(0, 10, 2)
        u[rng.random(2) < 0.05] = rng.choice([np.nan, np.inf, -np.inf])
        q, v = rng.normal(0, 1.5, 2), rng.normal(0, 3, 2)
        age = None if rng.random() < 0.02 else abs(rng.normal(0, 0.1))
        cmd, _ = s.filter(u, q, v, age, DT)
        assert np.all(np.isfinite(cmd))
        assert np.all(np.abs(cmd) <= s.effort_max)


def test_bad_config_refused_with_value():
    with pytest.raises(ValueError, match="max_effort_fraction=1.5"):
        SafetyConfig(max_effort_fraction=1.5)


def test_estop_latch_clears_only_through_a_reset():
    latch = EStopLatch(hold_s=0.5)
    assert latch.signal(False, 0.0) == "" and not latch.engaged
    assert latch.signal(True, 1.0) == "engaged" and latch.engaged
    assert latch.signal(True, 1.1) == "held"
    for t in (1.2, 5.0, 9.0):  # a false, repeated or stale, never releases it
        assert latch.signal(False, t) == "ignored" and latch.engaged
    ok, why = latch.reset(1.3)  # a true 0.2 s ago: still asserted
    assert not ok and "still asserted" in why and latch.engaged
    ok, why = latch.reset(9.5)
    assert ok and why == "e-stop released" and not latch.engaged
    assert latch.reset(9.6) == (True, "e-stop was not engaged")
    assert latch.signal(True, 10.0) == "engaged" and latch.engagements == 2
