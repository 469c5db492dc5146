"""Pendulum: one torque-limited revolute joint; zero angle hangs down, upright is pi."""

from m3po_learning.envs.robot import RobotDescription

PIVOT = "pivot"
TIP = "tip"
POLE_LENGTH_M = 0.5

ROBOT = RobotDescription(
    name="pendulum",
    urdf="pendulum.urdf",
    actuated_joints=(PIVOT,),
    frames=(TIP,),
    timestep_s=0.01,
    armature=0.001,
    camera=((0.0, 0.0, 1.0), 2.4, 90.0, -8.0),
)
