"""Position and velocity drives: task names, the action <-> setpoint mapping, the sim servo."""

import numpy as np
import pytest

from m3po_learning.envs import ActionSpec, JointLimit, TaskSetError, make_env
from m3po_learning.envs.drive import DriveError, split_drive
from m3po_learning.envs.registry import resolve_tasks

LIMITS = (
    JointLimit("a", effort=4.0, velocity=2.0, position=(-1.0, 1.0)),
    JointLimit("b", effort=0.5, velocity=0.0),  # no velocity limit, continuous
)


def test_task_names_carry_the_drive():
    assert split_drive("arm2/reach") == ("arm2/reach", "effort")
    assert split_drive("arm2/reach@position") == ("arm2/reach", "position")
    with pytest.raises(DriveError, match="unknown drive 'torque'.*'position', 'velocity'"):
        split_drive("arm2/reach@torque")
    with pytest.raises(TaskSetError, match="unknown drive 'postion'"):
        make_env("arm2/reach@postion")
    with pytest.raises(TaskSetError, match="unknown drive 'pos'"):
        resolve_tasks(["arm2/reach@pos"])
    assert resolve_tasks(["arm2/reach@velocity"]) == ["arm2/reach@velocity"]
    with pytest.raises(TaskSetError, match="dm_control tasks keep their own actuators"):
        make_env("dmc/cartpole-swingup@position")


def test_position_setpoint_is_a_bounded_step_from_where_the_joint_is():
    s = ActionSpec(LIMITS, drive="position", control_dt=0.02)
    np.testing.assert_allclose(s.scale, [2.0 * 0.02, 3.0 * 0.02])  # DEFAULT_SPEED for b
    q = np.array([0.99, 5.0])
    target = s.to_command([1.0, -0.5], q)
    np.testing.assert_allclose(target, [1.0, 5.0 - 0.03])  # a clipped to its range
    np.testing.assert_allclose(s.command_to_action(target, q), [0.25, -0.5])
    np.testing.assert_array_equal(s.command_to_action([9.0, 5.0], q), [1.0, 0.0])
    np.testing.assert_array_equal(s.hold_command(q), q)
    assert s.hold_command(None) is None


def test_velocity_setpoint_scales_with_the_limit():
    s = ActionSpec(LIMITS, drive="velocity")
    np.testing.assert_allclose(s.to_command([0.5, -1.0], None), [1.0, -3.0])
    np.testing.assert_allclose(s.command_to_action([1.0, -3.0], None), [0.5, -1.0])
    np.testing.assert_array_equal(s.hold_command(None), [0.0, 0.0])
    with pytest.raises(DriveError, match="unknown drive 'force'"):
        ActionSpec(LIMITS, drive="force")


@pytest.mark.parametrize("task", ["arm2/reach@position", "arm7/reach@position"])
def test_sim_position_servo_holds_tracks_and_respects_limits(task):
    env = make_env(task, seed=0)
    env.reset(seed=0)
    robot, data, spec = env.robot, env.data, env.action_spec
    q0 = data.qpos[robot.act_qpos_idx].copy()
    for _ in range(25):  # zero action = hold where the joints are (no gravity on the arms)
        env.step(np.zeros(spec.dim))
    np.testing.assert_allclose(data.qpos[robot.act_qpos_idx], q0, atol=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(200):
        env.step(rng.uniform(-1.0, 1.0, spec.dim))
        effort = data.qfrc_actuator[robot.act_dof_idx]
        assert np.all(np.abs(effort) <= spec.effort_max + 1e-6)  # the servo saturates
        assert np.all(np.abs(data.qvel[robot.act_dof_idx]) <= 1.2 * spec.vel_max)
        q = data.qpos[robot.act_qpos_idx]
        assert np.all(q >= spec.pos_lo - 0.05) and np.all(q <= spec.pos_hi + 0.05)
    q1 = data.qpos[robot.act_qpos_idx].copy()
    for _ in range(5):  # a held positive action moves every joint up, at most 5 steps
        env.step(np.full(spec.dim, 0.5))
    moved = data.qpos[robot.act_qpos_idx] - q1
    room = spec.pos_hi - q1 > 0.2
    assert np.all(moved[room] > 0.0) and np.all(moved <= 5 * 0.5 * spec.scale + 1e-6)


def test_sim_velocity_servo_follows_the_setpoint():
    env = make_env("arm2/reach@velocity", seed=0)
    env.reset(seed=0)
    robot, data, spec = env.robot, env.data, env.action_spec
    env.step(np.zeros(spec.dim))
    v0 = data.qvel[robot.act_dof_idx].copy()
    assert np.all(np.abs(v0) < 0.05)
    for _ in range(3):
        env.step(np.array([0.0, 0.3]))
    v = data.qvel[robot.act_dof_idx]
    assert abs(v[1] - 0.3 * spec.scale[1]) < 0.25 * 0.3 * spec.scale[1], v


def test_effort_task_is_unchanged_by_the_drive_code():
    a = make_env("arm2/reach", seed=3)
    b = make_env("arm2/reach@position", seed=3)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    np.testing.assert_array_equal(oa, ob)  # same task, same start: only the actuators differ
    assert a.action_spec.drive == "effort" and b.action_spec.drive == "position"
    assert a.model.actuator_gainprm[0, 0] == 1.0 and a.model.actuator_gear[0, 0] == 6.0
