"""Built-in robots: one constants module per robot (joint names, limits source, assets)."""

from m3po_learning.envs.robot import RobotDescription
from m3po_learning.envs.robots import acrobot, arm2, arm7, cartpole, pendulum

ROBOTS: dict[str, RobotDescription] = {
    r.ROBOT.name: r.ROBOT for r in (pendulum, cartpole, acrobot, arm2, arm7)
}

__all__ = ["ROBOTS"]
