"""Recomputing a task's reward and termination from recorded joint states and inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mujoco
import numpy as np


class StateReward:
    """Puts a recorded state into a task's MuJoCo robot and asks the task for its reward.

    The task's own `reward(robot, action)` and `terminated(robot)` are called, so bag
    rewards follow the task definition exactly; only positions/velocities of the recorded
    joints and the task inputs are set (forward kinematics, no physics step).
    """

    def __init__(self, env, joints: Sequence[str]):
        self.env = env
        env.reset(seed=0)  # binds the task to the robot (index caches)
        robot = env.robot
        known = [j for j in joints if j in robot.qpos_adr]
        self._cols = np.array([i for i, j in enumerate(joints) if j in robot.qpos_adr], np.intp)
        self._qidx = np.array([robot.qpos_adr[j] for j in known], np.intp)
        self._didx = np.array([robot.dof_adr[j] for j in known], np.intp)
        self._inputs = env.task.inputs()  # the task's live input arrays (written in place)

    def __call__(
        self,
        positions: np.ndarray,
        velocities: np.ndarray,
        inputs: Mapping[str, np.ndarray],
        action: np.ndarray,
    ) -> tuple[float, bool]:
        """(reward, terminated) for the state reached after `action` (normalised, (A,))."""
        robot, d = self.env.robot, self.env.robot.data
        p, v = positions[self._cols], velocities[self._cols]
        d.qpos[self._qidx] = p
        d.qvel[self._didx] = v if not np.isnan(v.sum()) else np.nan_to_num(v)
        for name, value in inputs.items():
            live = self._inputs.get(name)
            if live is not None:
                live[:] = value
        mujoco.mj_kinematics(robot.model, d)
        task = self.env.task
        return float(task.reward(robot, action)), bool(task.terminated(robot))
