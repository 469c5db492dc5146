"""Gravity torques from the URDF: what training's compensation cancelled, what holds the arm."""

import mujoco
import numpy as np
import pytest

from m3po_learning.envs import make_env
from m3po_learning.envs.gravity import GravityModeError, GravityTorques, resolve_gravity_mode


def _pose(env, q) -> None:
    env.data.qpos[env.robot.act_qpos_idx] = q
    env.data.qvel[:] = 0.0
    mujoco.mj_forward(env.model, env.data)


def test_gravity_torques_equal_what_training_compensated():
    env = make_env("arm7/reach")  # trained with gravity compensation on every body
    assert env.task.robot.gravity_compensation
    grav = GravityTorques(env.task.robot)
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = rng.uniform(-1.0, 1.0, env.spec.action_dim)
        _pose(env, q)
        tau = grav(dict(zip(env.spec.joint_names, q, strict=True)))
        np.testing.assert_allclose(tau, env.data.qfrc_gravcomp[env.robot.act_dof_idx], atol=1e-9)
        assert np.abs(tau).max() > 1.0  # a 7-DoF arm away from upright carries real torque


def test_gravity_torques_hold_an_uncompensated_arm():
    """The controller's compensation on a robot without it: the arm stays where it was."""
    env = make_env("arm7/reach")
    grav = GravityTorques(env.task.robot)
    names, limit = env.spec.joint_names, env.action_spec.effort_max
    q0 = np.array([0.3, 0.8, -0.2, -1.2, 0.1, 1.0, 0.0])
    drift = {}
    for added in (False, True):
        env.reset(seed=0)
        env.set_gravity_compensation(False)
        _pose(env, q0)
        for _ in range(50):  # one second
            q = env.data.qpos[env.robot.act_qpos_idx]
            tau = grav(dict(zip(names, q, strict=True))) if added else np.zeros(len(names))
            env.step(tau / limit)
        drift[added] = float(np.abs(env.data.qpos[env.robot.act_qpos_idx] - q0).max())
    assert drift[False] > 0.3, drift  # gravity acts: the arm falls
    assert drift[True] < 0.02, drift  # compensated by the added torques: it stays


def test_gravity_mode_follows_training_or_refuses():
    assert resolve_gravity_mode("auto", True, "t") == "controller"
    assert resolve_gravity_mode("auto", False, "t") == "off"
    assert resolve_gravity_mode("driver", True, "t") == "driver"
    with pytest.raises(GravityModeError, match="trained with gravity compensated"):
        resolve_gravity_mode("off", True, "arm7/reach")
    with pytest.raises(GravityModeError, match="trained with gravity acting"):
        resolve_gravity_mode("controller", False, "arm2/reach")
