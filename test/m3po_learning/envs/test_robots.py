"""URDF joint names and limits are what the env exposes."""

import math

import numpy as np
import pytest

from m3po_learning.envs import builtin_tasks, make_env
from m3po_learning.envs.urdf_info import read_urdf_joints

TASKS = builtin_tasks()


@pytest.mark.parametrize("task", TASKS)
def test_urdf_joints_and_limits_match_env(task):
    env = make_env(task)
    urdf = {j.name: j for j in read_urdf_joints(env.task.robot.urdf_file()) if j.movable}
    names, pos, vel, eff = env.joint_state()
    assert set(names) == set(urdf)
    limits = env.joint_limits()
    for name, lim in limits.items():
        j = urdf[name]
        assert (lim.joint, lim.position, lim.velocity, lim.effort) == (
            name,
            (j.lower, j.upper),
            j.velocity,
            j.effort,
        )
        assert lim.velocity > 0 and math.isfinite(lim.velocity)
    assert env.action_spec.names == env.spec.joint_names
    # Actions scale to the URDF effort limit: gear = effort, ctrl range [-1, 1].
    for k, joint in enumerate(env.spec.joint_names):
        assert env.model.actuator_gear[k, 0] == pytest.approx(urdf[joint].effort)
        assert tuple(env.model.actuator_ctrlrange[k]) == (-1.0, 1.0)
    # Revolute joints carry their URDF range into MuJoCo.
    for name in names:
        if urdf[name].type in ("revolute", "prismatic"):
            jid = env.model.joint(name).id
            np.testing.assert_allclose(
                env.model.jnt_range[jid], (urdf[name].lower, urdf[name].upper)
            )
