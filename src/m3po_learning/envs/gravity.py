"""Gravity torques of a robot from its URDF (MuJoCo inverse dynamics), for the controller.

A robot trained with gravity compensation (`RobotDescription.gravity_compensation`: MuJoCo
cancels gravity on every body) learned efforts on top of a gravity-free arm. On a robot
whose driver does not cancel gravity, the controller adds these torques to its command;
they are computed from the same URDF, masses and joints the training simulation used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import mujoco
import numpy as np

from m3po_learning.envs.robot import RobotDescription, build_model

GRAVITY_MODES = ("auto", "controller", "driver", "off")
# auto: as in training (controller when trained compensated, off when not);
# controller: this controller adds the gravity torques; driver: the robot's driver cancels
# gravity itself; off: gravity acts (the policy must have been trained with it acting).


class GravityModeError(ValueError):
    """The controller's gravity compensation disagrees with how the policy was trained."""


def resolve_gravity_mode(requested: str, trained_compensated: bool, task: str) -> str:
    """The compensation the controller runs with ("controller", "driver" or "off").

    Raises:
        GravityModeError: `requested` contradicts the training (the message says what to set).
    """
    if requested not in GRAVITY_MODES:
        raise GravityModeError(f"gravity_compensation={requested!r}: use one of {GRAVITY_MODES}")
    if requested == "auto":
        return "controller" if trained_compensated else "off"
    if trained_compensated and requested == "off":
        raise GravityModeError(
            f"task {task!r} was trained with gravity compensated (the simulation cancelled "
            "gravity), but gravity_compensation='off' leaves it acting: the learned efforts "
            "would not hold the arm up. Set gravity_compensation:=controller (this node adds "
            "the gravity torques from the URDF) or :=driver (the robot's driver cancels gravity)"
        )
    if not trained_compensated and requested != "off":
        raise GravityModeError(
            f"task {task!r} was trained with gravity acting (no compensation), but "
            f"gravity_compensation={requested!r} cancels it: the learned efforts already "
            "fight gravity and would be wrong. Set gravity_compensation:=off (or auto), or "
            "retrain with --gravity-compensation on"
        )
    return requested


class GravityTorques:
    """Torques (N m / N) that hold the actuated joints of `robot` still against gravity.

    `__call__` takes joint positions by name (the JointState); joints it lacks are taken at
    zero. One MuJoCo forward pass per call (tens of microseconds).
    """

    def __init__(self, robot: RobotDescription) -> None:
        desc = dataclasses.replace(
            robot, gravity_compensation=False, goal_marker=False, drive="effort"
        )
        self.model, _ = build_model(desc)
        self.data = mujoco.MjData(self.model)
        m = self.model
        one_dof = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
        self.joints = tuple(m.joint(j).name for j in range(m.njnt) if m.jnt_type[j] in one_dof)
        self._qadr = {n: int(m.joint(n).qposadr[0]) for n in self.joints}
        self._act_dof = np.array(
            [int(m.joint(n).dofadr[0]) for n in robot.actuated_joints], np.intp
        )

    def __call__(self, positions: Mapping[str, float]) -> np.ndarray:
        """(A,) gravity torques of the actuated joints, in action order."""
        d = self.data
        d.qpos[:] = 0.0
        for name, adr in self._qadr.items():
            d.qpos[adr] = positions.get(name, 0.0)
        d.qvel[:] = 0.0
        mujoco.mj_forward(self.model, d)
        return d.qfrc_bias[self._act_dof].copy()
