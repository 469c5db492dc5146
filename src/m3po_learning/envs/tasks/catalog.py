"""The built-in tasks: name -> factory of a fresh Task (each env owns its task object)."""

from __future__ import annotations

from collections.abc import Callable

from m3po_learning.envs.robots import arm2, pendulum
from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.reach import ReachTask, Workspace
from m3po_learning.envs.tasks.swing import SwingTask

_ARM2_WORKSPACE = Workspace(
    center=(0.0, 0.0, arm2.PLANE_HEIGHT_M), r_min=0.12, r_max=0.5, planar=True
)
_ARM2_TRACK_CENTRES = Workspace(
    center=(0.0, 0.0, arm2.PLANE_HEIGHT_M), r_min=0.25, r_max=0.35, planar=True
)


def _pendulum(balance: bool) -> Callable[[], Task]:
    def make() -> Task:
        return SwingTask(
            robot=pendulum.ROBOT,
            episode_length=200 if balance else 250,
            description="keep the pendulum upright" if balance else "swing the pendulum up",
            poles=(pendulum.PIVOT,),
            upright_offset=3.141592653589793,
            balance=balance,
        )

    return make


def _arm2(mode: str) -> Callable[[], Task]:
    lengths = {"reach": 150, "track": 250, "hold": 200}
    text = {
        "reach": "move the end effector to a random goal in the plane",
        "track": "follow a goal moving on a circle",
        "hold": "hold the end effector still against random pushes",
    }

    def make() -> Task:
        return ReachTask(
            robot=arm2.ROBOT,
            episode_length=lengths[mode],
            description=text[mode],
            frame=arm2.EE,
            joints=(arm2.SHOULDER, arm2.ELBOW),
            workspace=_ARM2_TRACK_CENTRES if mode == "track" else _ARM2_WORKSPACE,
            mode=mode,
            goal_radius=0.02,
            margin=0.3,
            push_body="fore_link",
            push_force_n=8.0,
        )

    return make


BUILTIN_TASKS: dict[str, Callable[[], Task]] = {
    "pendulum/swingup": _pendulum(balance=False),
    "pendulum/balance": _pendulum(balance=True),
    "arm2/reach": _arm2("reach"),
    "arm2/track": _arm2("track"),
    "arm2/hold": _arm2("hold"),
}
