"""Seven-joint torque-controlled arm with gravity compensation; the tool tip is link `tool`."""

from m3po_learning.envs.robot import RobotDescription

JOINTS = tuple(f"joint{i}" for i in range(1, 8))
TOOL = "tool"
TOOL_X, TOOL_Z = "tool_x", "tool_z"  # fixed points 0.1 m along the tool's x and z axes
TOOL_AXIS_M = 0.1
SHOULDER_XYZ = (0.0, 0.0, 0.33)  # joint2 position, the centre of the workspace
REACH_M = 0.94  # joint2 to the tool tip, fully stretched

ROBOT = RobotDescription(
    name="arm7",
    urdf="arm7.urdf",
    actuated_joints=JOINTS,
    frames=(TOOL, TOOL_X, TOOL_Z),
    timestep_s=0.01,
    gravity_compensation=True,
    armature=0.05,
    camera=((0.0, 0.0, 0.5), 1.9, 135.0, -22.0),
    goal_marker=True,
)
