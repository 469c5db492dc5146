"""Built-in robots: one constants module per robot (joint names, limits source, assets)."""

from m3po_learning.envs.robot import RobotDescription
from m3po_learning.envs.robots import arm2, pendulum

ROBOTS: dict[str, RobotDescription] = {r.ROBOT.name: r.ROBOT for r in (pendulum, arm2)}

__all__ = ["ROBOTS"]
