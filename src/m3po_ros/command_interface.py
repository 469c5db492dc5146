"""Which ros2_control command interface the controller publishes to (no ROS imports).

The drive a checkpoint was trained with (`m3po_learning.envs.drive`, the task's "@position" /
"@velocity" suffix) fixes what its actions mean, so it fixes the interface too:

- effort drive: `effort`, a Float64MultiArray of N m | N, for
  effort_controllers/JointGroupEffortController;
- position drive: `position`, a Float64MultiArray of rad | m, for
  position_controllers/JointGroupPositionController; or `trajectory`, a one-point
  trajectory_msgs/JointTrajectory, for joint_trajectory_controller/JointTrajectoryController;
- velocity drive: `velocity`, a Float64MultiArray of rad/s | m/s, for
  velocity_controllers/JointGroupVelocityController.

`auto` picks the drive's own forward interface. Any other pairing is refused at configure:
turning an effort policy's torque into a setpoint would need the robot's servo gains and
ignore what the servo does between ticks; train the task with the robot's drive instead.
"""

from __future__ import annotations

INTERFACES = ("auto", "effort", "position", "velocity", "trajectory")
ALLOWED = {
    "effort": ("effort",),
    "position": ("position", "trajectory"),
    "velocity": ("velocity",),
}


def resolve_interface(requested: str, drive: str, task: str = "") -> str:
    """The interface to publish for a checkpoint task of `drive`; ValueError if it cannot."""
    if requested not in INTERFACES:
        raise ValueError(f"command_interface {requested!r} is not one of {', '.join(INTERFACES)}")
    if requested == "auto":
        return drive
    if requested in ALLOWED[drive]:
        return requested
    base = task.partition("@")[0] or "robot/task"
    needed = "velocity" if requested == "velocity" else "position"
    raise ValueError(
        f"command_interface {requested!r} does not fit task {task or '?'}, trained with the "
        f"{drive} drive (it can publish: {', '.join(ALLOWED[drive])}). A policy's {drive} "
        f"intent is not a {requested} setpoint: that would need the robot's servo gains and "
        f"ignore the servo's own loop between ticks. Train the task with the robot's drive, "
        f"e.g. `m3po train --tasks {base}@{needed}`"
    )
