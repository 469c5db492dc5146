"""Conversions between standard ROS 2 messages and the arrays the learning code uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import PointStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension


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
