"""Acrobot: passive shoulder, motorised elbow, both in a vertical plane; zero hangs down."""

from m3po_learning.envs.robot import RobotDescription

SHOULDER = "shoulder"
ELBOW = "elbow"
TIP = "acrobot_tip"

ROBOT = RobotDescription(
    name="acrobot",
    urdf="acrobot.urdf",
    actuated_joints=(ELBOW,),
    frames=(TIP,),
    timestep_s=0.01,
    armature=0.002,
    camera=((0.0, 0.0, 2.1), 4.0, 90.0, -8.0),
)
