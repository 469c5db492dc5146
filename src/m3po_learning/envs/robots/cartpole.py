"""Cart-pole: a motorised cart on a rail (prismatic) carrying a free pole; zero is upright."""

from m3po_learning.envs.robot import RobotDescription

SLIDER = "slider"
HINGE = "hinge"
TIP = "pole_tip"

ROBOT = RobotDescription(
    name="cartpole",
    urdf="cartpole.urdf",
    actuated_joints=(SLIDER,),
    frames=(TIP,),
    timestep_s=0.01,
    armature=0.01,
    camera=((0.0, 0.0, 1.1), 3.0, 90.0, -10.0),
)
