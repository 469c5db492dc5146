"""The built-in tasks: name -> factory of a fresh Task (each env owns its task object)."""

from __future__ import annotations

import math
from collections.abc import Callable

from m3po_learning.envs.robots import acrobot, arm2, arm7, cartpole, pendulum
from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.reach import ReachPoseTask, ReachTask, Workspace
from m3po_learning.envs.tasks.swing import SwingTask

_ARM2_GOALS = Workspace(center=(0.0, 0.0, arm2.PLANE_HEIGHT_M), r_min=0.12, r_max=0.5, planar=True)
_ARM2_CIRCLE_CENTRES = Workspace(
    center=(0.0, 0.0, arm2.PLANE_HEIGHT_M), r_min=0.25, r_max=0.35, planar=True
)
_ARM7_GOALS = Workspace(center=arm7.SHOULDER_XYZ, r_min=0.35, r_max=0.8, z_min=0.1)
_ARM7_PATH_CENTRES = Workspace(center=arm7.SHOULDER_XYZ, r_min=0.45, r_max=0.6, z_min=0.35)

_ARM_TEXT = {
    "reach": "move the end effector to a random goal",
    "track": "follow a goal moving on a circle",
    "trajectory": "trace a figure-eight with the end effector",
    "hold": "hold the end effector still against random pushes",
}
_ARM_LENGTH = {"reach": 150, "track": 250, "trajectory": 250, "hold": 200}


def _arm7_pose() -> Task:
    return ReachPoseTask(
        robot=arm7.ROBOT,
        episode_length=200,
        description="move the tool to a random pose (position and orientation)",
        frame=arm7.TOOL,
        joints=arm7.JOINTS,
        workspace=_ARM7_GOALS,
        mode="reach",
        goal_radius=0.03,
        margin=0.4,
        axis_frames=(arm7.TOOL_X, arm7.TOOL_Z),
        axis_m=arm7.TOOL_AXIS_M,
    )


def _swing(robot, poles, upright_offset, balance, cart="", start_down=False) -> Callable[[], Task]:
    what = robot.name.replace("pole", "-pole")

    def make() -> Task:
        return SwingTask(
            robot=robot,
            episode_length=200 if balance else 250,
            description=f"keep the {what} upright" if balance else f"swing the {what} up",
            poles=poles,
            upright_offset=upright_offset,
            cart=cart,
            balance=balance,
            start_down=start_down,
        )

    return make


def _arm2(mode: str) -> Callable[[], Task]:
    def make() -> Task:
        return ReachTask(
            robot=arm2.ROBOT,
            episode_length=_ARM_LENGTH[mode],
            description=_ARM_TEXT[mode],
            frame=arm2.EE,
            joints=(arm2.SHOULDER, arm2.ELBOW),
            workspace=_ARM2_CIRCLE_CENTRES if mode == "track" else _ARM2_GOALS,
            mode=mode,
            goal_radius=0.02,
            margin=0.3,
            circle_radius=(0.08, 0.15),
            push_body="fore_link",
            push_force_n=8.0,
        )

    return make


def _arm7(mode: str) -> Callable[[], Task]:
    def make() -> Task:
        return ReachTask(
            robot=arm7.ROBOT,
            episode_length=_ARM_LENGTH[mode],
            description=_ARM_TEXT[mode],
            frame=arm7.TOOL,
            joints=arm7.JOINTS,
            workspace=_ARM7_GOALS if mode in ("reach", "hold") else _ARM7_PATH_CENTRES,
            mode=mode,
            goal_radius=0.03,
            margin=0.4,
            circle_radius=(0.1, 0.2),
            angular_speed=(0.4, 0.9),
            push_body="link4",
            push_force_n=40.0,
        )

    return make


BUILTIN_TASKS: dict[str, Callable[[], Task]] = {
    "pendulum/swingup": _swing(pendulum.ROBOT, (pendulum.PIVOT,), math.pi, balance=False),
    "pendulum/balance": _swing(pendulum.ROBOT, (pendulum.PIVOT,), math.pi, balance=True),
    "cartpole/swingup": _swing(
        cartpole.ROBOT, (cartpole.HINGE,), 0.0, False, cart=cartpole.SLIDER, start_down=True
    ),
    "cartpole/balance": _swing(cartpole.ROBOT, (cartpole.HINGE,), 0.0, True, cart=cartpole.SLIDER),
    "acrobot/swingup": _swing(acrobot.ROBOT, (acrobot.SHOULDER, acrobot.ELBOW), math.pi, False),
    "acrobot/balance": _swing(acrobot.ROBOT, (acrobot.SHOULDER, acrobot.ELBOW), math.pi, True),
    "arm2/reach": _arm2("reach"),
    "arm2/track": _arm2("track"),
    "arm2/hold": _arm2("hold"),
    "arm7/reach": _arm7("reach"),
    "arm7/track": _arm7("track"),
    "arm7/trajectory": _arm7("trajectory"),
    "arm7/hold": _arm7("hold"),
    "arm7/reach_pose": _arm7_pose,
}
