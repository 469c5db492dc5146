"""ActionSpec: the one action <-> effort conversion, on the real robots and dm_control."""

import math

import numpy as np
import pytest

from m3po_learning.envs import ActionSpec, JointLimit, make_env


def spec() -> ActionSpec:
    return ActionSpec(
        (
            JointLimit("a", effort=4.0, velocity=2.0, position=(-1.0, 1.0)),
            JointLimit("b", effort=0.5, velocity=0.0),
        )
    )


def test_arrays_follow_action_order():
    s = spec()
    assert s.names == ("a", "b") and s.dim == 2
    np.testing.assert_array_equal(s.effort_max, [4.0, 0.5])
    np.testing.assert_array_equal(s.vel_max, [2.0, math.inf])  # 0 = not given
    np.testing.assert_array_equal(s.pos_lo, [-1.0, -math.inf])
    with pytest.raises(ValueError):
        s.effort_max[0] = 1.0  # read-only: the limits cannot drift after construction


def test_round_trip_and_clipping():
    s = spec()
    action = np.array([[0.5, -1.0], [1.0, 0.25]])
    np.testing.assert_allclose(s.to_effort(action), [[2.0, -0.5], [4.0, 0.125]])
    np.testing.assert_allclose(s.to_action(s.to_effort(action)), action)
    np.testing.assert_array_equal(s.to_action([8.0, -0.1]), [1.0, -0.2])
    np.testing.assert_array_equal(s.saturated([8.0, -0.1]), [True, False])


def test_bad_limits_are_refused_by_name():
    with pytest.raises(ValueError, match="'b', 0.0"):
        ActionSpec((JointLimit("a", 1.0), JointLimit("b", 0.0)))
    with pytest.raises(ValueError, match="twice"):
        ActionSpec((JointLimit("a", 1.0), JointLimit("a", 1.0)))
    with pytest.raises(KeyError, match="zzz"):
        ActionSpec.from_limits(["zzz"], {"a": JointLimit("a", 1.0)})


@pytest.mark.parametrize("task", ["arm2/reach", "pendulum/swingup"])
def test_env_applies_the_spec_effort(task):
    """An action of 0.5 on one joint puts 0.5 x its effort limit on that joint's motor."""
    env = make_env(task, seed=0)
    env.reset(seed=0)
    s = env.action_spec
    assert s.names == env.spec.joint_names
    action = np.zeros(s.dim)
    action[0] = 0.5
    env.step(action)
    names, _, _, applied = env.joint_state()
    assert applied[names.index(s.names[0])] == pytest.approx(s.to_effort(action)[0])


def test_dmc_spec_from_actuators():
    env = make_env("dmc/cartpole-swingup")
    s = env.action_spec
    assert s.names == env.spec.joint_names and s.dim == env.spec.action_dim
    assert np.all(s.effort_max > 0) and np.all(np.isfinite(s.effort_max))
