"""Conversions between standard ROS 2 messages and the arrays the learning code uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import PointStamped, PoseStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint


class MessageError(ValueError):
    """A message does not have the shape the receiver needs; the text says what was wrong."""


def joint_state_to_dicts(msg: JointState) -> tuple[dict[str, float], dict[str, float]]:
    """Positions and velocities by joint name (any order in the message).

    A JointState may omit velocities (empty array); then the velocity dict is empty. Values are
    passed through as they are (NaN included): the safety layer decides what to do with them.
    """
    names = list(msg.name)
    if len(set(names)) != len(names):
        raise MessageError(f"JointState has repeated joint names: {names}")
    if len(msg.position) != len(names):
        raise MessageError(f"JointState has {len(names)} names but {len(msg.position)} positions")
    if len(msg.velocity) not in (0, len(names)):
        raise MessageError(f"JointState has {len(names)} names but {len(msg.velocity)} velocities")
    positions = dict(zip(names, (float(x) for x in msg.position), strict=True))
    velocities = dict(zip(names, (float(x) for x in msg.velocity), strict=False))
    return positions, velocities


def make_joint_state(
    names: Sequence[str],
    positions: Sequence[float],
    velocities: Sequence[float],
    efforts: Sequence[float] | None = None,
    stamp=None,
) -> JointState:
    """A JointState message; `stamp` is a builtin_interfaces/Time (or None)."""
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = [float(x) for x in positions]
    msg.velocity = [float(x) for x in velocities]
    msg.effort = [] if efforts is None else [float(x) for x in efforts]
    return msg


def point_to_array(msg: PointStamped) -> np.ndarray:
    """(3,) float64 xyz of a PointStamped."""
    p = msg.point
    return np.array([p.x, p.y, p.z], np.float64)


def make_point(xyz: Sequence[float], frame_id: str = "world", stamp=None) -> PointStamped:
    """A PointStamped at `xyz` (3,) in `frame_id`; `stamp` is a builtin_interfaces/Time or None."""
    msg = PointStamped()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.point.x, msg.point.y, msg.point.z = (float(v) for v in xyz)
    return msg


def make_pose(
    xyz: Sequence[float], quat_wxyz: Sequence[float], frame_id: str = "", stamp=None
) -> PoseStamped:
    """A PoseStamped at `xyz` (3,) with orientation `quat_wxyz` (4,, w first) in `frame_id`."""
    msg = PoseStamped()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in xyz)
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in quat_wxyz)
    return msg


def pose_to_arrays(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray]:
    """(position (3,), quaternion wxyz (4,)) of a PoseStamped, float64."""
    p, o = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z], np.float64), np.array([o.w, o.x, o.y, o.z], np.float64)


def make_transform(parent: str, child: str, xyz, quat_wxyz, stamp=None):
    """A geometry_msgs/TransformStamped: `child`'s pose in `parent` (what /tf carries)."""
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header.frame_id = parent
    if stamp is not None:
        msg.header.stamp = stamp
    msg.child_frame_id = child
    t, r = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in xyz)
    r.w, r.x, r.y, r.z = (float(v) for v in quat_wxyz)
    return msg


def command_to_msg(effort: np.ndarray, joint_names: Sequence[str] = ()) -> Float64MultiArray:
    """Effort command (J,) as a Float64MultiArray (ros2_control forward-command convention).

    The one layout dimension is labelled with the joint names joined by commas so that a
    reader can check the order; forward-command controllers ignore the layout.
    """
    msg = Float64MultiArray()
    dim = MultiArrayDimension()
    dim.label = ",".join(joint_names)
    dim.size = len(effort)
    dim.stride = len(effort)
    msg.layout.dim = [dim]
    msg.data = [float(x) for x in effort]
    return msg


def msg_to_command(msg: Float64MultiArray, size: int) -> np.ndarray:
    """(size,) float64 effort from a command message; wrong length raises MessageError."""
    data = np.asarray(msg.data, np.float64)
    if data.shape != (size,):
        raise MessageError(f"joint_commands has {data.shape[0]} values, expected {size}")
    return data


def array_to_msg(values: np.ndarray) -> Float64MultiArray:
    """Any 1-D array as a Float64MultiArray with no layout (debug topics)."""
    msg = Float64MultiArray()
    msg.data = [float(x) for x in np.asarray(values).reshape(-1)]
    return msg


def setpoint_to_trajectory(
    positions: np.ndarray, joint_names: Sequence[str], time_from_start_s: float
) -> JointTrajectory:
    """A one-point JointTrajectory: reach `positions` (J,) `time_from_start_s` from now.

    The header stamp stays zero, which a JointTrajectoryController reads as "start now"; a
    new trajectory replaces the one it is executing.
    """
    msg = JointTrajectory()
    msg.joint_names = list(joint_names)
    point = JointTrajectoryPoint()
    point.positions = [float(x) for x in positions]
    sec = int(time_from_start_s)
    point.time_from_start.sec = sec
    point.time_from_start.nanosec = int(round((time_from_start_s - sec) * 1e9))
    msg.points = [point]
    return msg


def trajectory_to_setpoint(msg: JointTrajectory, joint_names: Sequence[str]) -> np.ndarray:
    """(J,) positions of a trajectory's last point, in `joint_names` order (mapped by name).

    Raises MessageError for a trajectory without points, with repeated or missing joints, or
    whose last point's positions do not match its joint names.
    """
    names = list(msg.joint_names)
    if not msg.points:
        raise MessageError("JointTrajectory has no points")
    if len(set(names)) != len(names):
        raise MessageError(f"JointTrajectory has repeated joint names: {names}")
    missing = [j for j in joint_names if j not in names]
    if missing:
        raise MessageError(f"JointTrajectory lacks joints {missing} (has {names})")
    positions = msg.points[-1].positions
    if len(positions) != len(names):
        raise MessageError(
            f"JointTrajectory has {len(names)} joint names but {len(positions)} positions"
        )
    return np.array([float(positions[names.index(j)]) for j in joint_names], np.float64)
