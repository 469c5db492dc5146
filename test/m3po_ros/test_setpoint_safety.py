"""Safety layer of the position and velocity drives, without ROS."""

import numpy as np
import pytest

from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_ros.safety import SafetyConfig, SafetyLayer, SafetyState, make_safety_layer

LIMITS = (
    JointLimit("a", 4.0, 2.0, (-1.0, 1.0)),
    JointLimit("b", 1.0, 3.0, (-np.inf, np.inf)),
)
DT = 0.02
V0 = np.zeros(2)


def layer(drive: str, **kw):
    return make_safety_layer(ActionSpec(LIMITS, drive, DT), SafetyConfig(**kw))


def test_the_drive_picks_the_layer():
    assert isinstance(layer("effort"), SafetyLayer)
    assert not isinstance(layer("position"), SafetyLayer)


def test_position_targets_stay_within_a_step_and_inside_the_range():
    s = layer("position", position_margin=0.05)
    q = np.array([0.0, 1.0])
    cmd, state = s.filter(np.array([0.5, 1.01]), q, V0, 0.0, DT)  # 0.5 rad is 12 steps away
    assert state == SafetyState.OK
    np.testing.assert_allclose(cmd, [0.04, 1.01])  # one step: 2 rad/s x 20 ms
    assert s.counters.rate_clips == 1
    q = np.array([0.94, 0.0])
    cmd, _ = s.filter(np.array([0.97, 0.0]), q, V0, 0.0, DT)
    np.testing.assert_allclose(cmd, [0.95, 0.0])  # kept `position_margin` inside the limit
    assert s.counters.position_cuts == 1


@pytest.mark.parametrize("fault", ["nan_command", "stale", "nan_sensor", "estop"])
def test_position_faults_hold_where_the_joints_were(fault):
    s = layer("position")
    q = np.array([0.3, -2.0])
    s.filter(np.array([0.31, -2.0]), q, V0, 0.0, DT)
    cmd, age, sensors = np.array([0.32, -2.0]), 0.0, q + 0.01
    if fault == "nan_command":
        cmd = np.array([np.nan, 0.0])
    elif fault == "stale":
        age = 1.0
    elif fault == "nan_sensor":
        sensors = np.array([np.nan, 0.0])
    else:
        s.estop = True
    out, state = s.filter(cmd, sensors, V0, age, DT)
    assert state != SafetyState.OK
    # where the joints were at the fault: the last fresh, finite reading
    held = sensors if fault in ("nan_command", "estop") else q
    np.testing.assert_allclose(out, held)
    later = sensors + 0.05 if fault != "nan_sensor" else sensors
    out2, _ = s.filter(cmd, later, V0, age, DT)
    np.testing.assert_allclose(out2, held)  # held, not chasing the readings


def test_position_drive_publishes_nothing_before_it_has_seen_the_joints():
    s = layer("position")
    out, state = s.filter(np.array([0.1, 0.1]), None, None, None, DT)
    assert state == SafetyState.NO_SENSORS and out is None
    assert s.safe_command() is None


def test_velocity_is_limited_stopped_on_faults_and_cut_outward_at_limits():
    s = layer("velocity", max_effort_fraction=0.5, position_margin=0.05)
    cmd, state = s.filter(np.array([5.0, -5.0]), np.zeros(2), V0, 0.0, DT)
    assert state == SafetyState.OK
    np.testing.assert_allclose(cmd, [1.0, -1.5])  # half the velocity limits
    cmd, _ = s.filter(np.array([0.5, 0.5]), np.array([0.97, 0.0]), V0, 0.0, DT)
    np.testing.assert_allclose(cmd, [0.0, 0.5])  # no further out past the margin
    cmd, _ = s.filter(np.array([-0.5, 0.5]), np.array([0.97, 0.0]), V0, 0.0, DT)
    np.testing.assert_allclose(cmd, [-0.5, 0.5])  # back in is fine
    out, state = s.filter(np.array([0.5, 0.5]), np.zeros(2), V0, 5.0, DT)
    assert state == SafetyState.STALE
    np.testing.assert_array_equal(out, [0.0, 0.0])
