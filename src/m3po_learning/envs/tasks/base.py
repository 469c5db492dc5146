"""What every task provides: reset distribution, observation parts, reward, termination."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m3po_learning.envs.observation import ObsPart
from m3po_learning.envs.robot import Robot, RobotDescription


@dataclass
class Task:
    """A task on one robot. Subclasses fill in the hooks; the env owns physics and time.

    Hooks are called by `Env` in this order each step: `before_physics` (e.g. start a push),
    physics, forward kinematics, `after_physics` (e.g. move the goal), then `reward` and
    `terminated` on the new state. Rewards are per step, within `reward_range`.
    """

    robot: RobotDescription  # the robot this task runs on
    episode_length: int  # agent steps before truncation
    control_dt: float = 0.02  # seconds between agent actions
    description: str = ""  # one line for docs and `list_tasks` tables

    reward_range = (0.0, 1.0)
    # Which optional hooks the env must call (skipping no-op calls keeps steps cheap).
    uses_before_physics = False
    uses_after_physics = False
    uses_kinematics = False  # reward/termination read body positions (data.xpos)
    can_terminate = False

    def observation_parts(self) -> tuple[ObsPart, ...]:
        """The observation's parts, in order; they define the task's observation spec."""
        raise NotImplementedError

    def reset(self, robot: Robot, rng: np.random.Generator) -> None:
        """Sample the initial state into `robot.data` (qpos, qvel) and the task's goal."""
        raise NotImplementedError

    def before_physics(self, robot: Robot, time_s: float) -> None:
        """Called before the physics steps of each control period."""

    def after_physics(self, robot: Robot, time_s: float) -> None:
        """Called after physics and kinematics, with the new time."""

    def reward(self, robot: Robot, action: np.ndarray) -> float:
        """Per-step reward in `reward_range` for the state reached after `action`."""
        raise NotImplementedError

    def terminated(self, robot: Robot) -> bool:
        """True when the episode ends before its time limit (e.g. the pole fell)."""
        return False

    def inputs(self) -> dict[str, np.ndarray]:
        """Task inputs a sim node publishes (e.g. {"goal": (3,)}); empty for most tasks."""
        return {}
