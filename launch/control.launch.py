"""The controller on a real robot.

    ros2 launch m3po_ros control.launch.py checkpoint:=runs/demo task:=arm2/reach \
        rate:=100.0 namespace:=my_arm use_sim_time:=false

Arguments (config/stacks/control.yaml): checkpoint (dir or run dir), task (robot/task; empty =
the checkpoint's first), rate (control rate, Hz), namespace, use_sim_time; for a ros2_control
robot (docs/ros2_control.md) the topic remaps joint_states_topic (e.g. /joint_states),
commands_topic (e.g. /effort_controller/commands), goal_topic, command_joints (the command
controller's `joints`, comma-separated) and command_interface (auto: the checkpoint's drive;
trajectory: a JointTrajectory for a JointTrajectoryController):

    ros2 launch m3po_ros control.launch.py checkpoint:=runs/arm2 \
        joint_states_topic:=/joint_states commands_topic:=/effort_controller/commands \
        command_joints:=shoulder,elbow

The launch drives
the controller through configure and activate (`python -m m3po_ros.autostart`, started next
to it) because config/ros/controller.yaml sets autostart: true; set it false there to drive
the lifecycle by hand (`ros2 lifecycle set /controller configure`).

Same nodes and parameter files as `m3po bringup control` (both read config/stacks/control.yaml).
"""

from m3po_ros.launch_stack import generate_stack_launch


def generate_launch_description():
    """The launch description of the control stack (config/stacks/control.yaml)."""
    return generate_stack_launch("control")
