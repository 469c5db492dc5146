"""Two-link planar arm in the horizontal plane; the end effector is link `ee_link`."""

from m3po_learning.envs.robot import RobotDescription

SHOULDER = "shoulder"
ELBOW = "elbow"
EE = "ee_link"
PLANE_HEIGHT_M = 0.12  # height of the plane the arm moves in
REACH_M = 0.55  # fully stretched length, shoulder to end effector

ROBOT = RobotDescription(
    name="arm2",
    urdf="arm2.urdf",
    actuated_joints=(SHOULDER, ELBOW),
    frames=(EE,),
    timestep_s=0.01,
    armature=0.002,
    camera=((0.0, 0.0, 0.1), 1.4, 90.0, -55.0),
    goal_marker=True,
)
