"""Joint order of the published command, mapped by name (no ROS imports).

A ros2_control forward command controller takes a plain array in the order of its own
`joints` parameter; the task's joint order comes from the URDF. `command_joints` names the
controller's order, and each command is permuted into it by joint name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def parse_joint_list(text: str) -> tuple[str, ...]:
    """'a, b,c' or 'a b c' or '[a, b]' (a YAML list pasted as text) -> ('a', 'b', 'c')."""
    cleaned = text.strip().strip("[]")
    return tuple(n.strip().strip("'\"") for n in cleaned.replace(",", " ").split() if n.strip())


class CommandOrder:
    """Permutes commands from a task's joint order into `command_joints`.

    Args:
        command_joints: the target controller's joint order; empty keeps the task's order.
    """

    def __init__(self, command_joints: Sequence[str] = ()) -> None:
        self.joints = tuple(command_joints)
        if len(set(self.joints)) != len(self.joints):
            dup = sorted({j for j in self.joints if self.joints.count(j) > 1})
            raise ValueError(f"command_joints {list(self.joints)} names {dup} more than once")
        self._index: dict[tuple[str, ...], np.ndarray] = {}

    def check(self, task_joints: Sequence[str], task: str = "") -> None:
        """Raise ValueError (with both lists) unless `task_joints` are the same joints."""
        if not self.joints:
            return
        task_joints = tuple(task_joints)
        if sorted(task_joints) != sorted(self.joints):
            missing = sorted(set(task_joints) - set(self.joints))
            extra = sorted(set(self.joints) - set(task_joints))
            raise ValueError(
                f"command_joints {list(self.joints)} do not match the joints of task "
                f"{task or '?'} {list(task_joints)} (task joints missing: {missing}; "
                f"not in the task: {extra})"
            )
        self._index[task_joints] = np.array([task_joints.index(j) for j in self.joints])

    def apply(self, command: np.ndarray, task_joints: Sequence[str]) -> tuple[np.ndarray, tuple]:
        """(command, joint names) in the published order; `check` must have accepted them."""
        if not self.joints:
            return command, tuple(task_joints)
        return command[self._index[tuple(task_joints)]], self.joints
