"""The controller's sensor inputs: the latest joint state, and goals read as of its stamp.

Joint states and goals arrive on separate topics. A tick that lands between a robot's goal
and its joint state of the same instant would otherwise pair a joint state with a goal from
another instant; with a moving goal (track, trajectory) that is a wrong observation. The
node keeps the last few goals per input and reads, for each, the newest one stamped no later
than the joint state. Unstamped messages (stamp 0) and goals newer than every joint state
fall back to the latest goal, so a goal published without a stamp still works as before.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from m3po_ros.control_loop import SensorSnapshot
from m3po_ros.conversions import (
    MessageError,
    joint_state_to_dicts,
    point_to_array,
    pose_to_arrays,
)

if TYPE_CHECKING:
    from m3po_learning.frames import FrameTree

DEPTH = 8  # goals kept per input: enough for a goal stream a few times the joint rate


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (0: unstamped)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class StampedInputs:
    """The recent values of each task input with their header stamps."""

    def __init__(self, depth: int = DEPTH) -> None:
        """Keep up to `depth` values per input."""
        self._depth = depth
        self._history: dict[str, deque] = {}

    def add(self, name: str, stamp: int, value: np.ndarray) -> None:
        """Store `value` of input `name` stamped `stamp` (ns; 0: unstamped)."""
        self._history.setdefault(name, deque(maxlen=self._depth)).append((stamp, value))

    def as_of(self, stamp: int) -> dict[str, np.ndarray]:
        """Each input's newest value stamped at or before `stamp` (ns), else its latest.

        `stamp` 0 (joint state unstamped) and unstamped inputs read the latest value.
        """
        out = {}
        for name, hist in self._history.items():
            latest_stamp, latest = hist[-1]
            if stamp <= 0 or latest_stamp <= 0:
                out[name] = latest
                continue
            best = None
            for s, value in hist:  # arrival order; stamps may come out of order
                if s <= stamp and (best is None or s >= best[0]):
                    best = (s, value)
            out[name] = latest if best is None else best[1]
        return out


class SensorInputs:
    """What the controller's subscriptions store, and the snapshot a tick reads.

    Keeps the latest joint state (by name, with its arrival time and header stamp) and every
    task input in a `StampedInputs`. Callbacks and ticks may run on different threads: each
    stores one tuple or appends to a bounded deque, both atomic under the GIL.
    """

    def __init__(self, frames: FrameTree | None = None) -> None:
        """No readings yet; inputs are read into the base frame of `frames` (None: as sent)."""
        self._joint: tuple = (None, {}, {}, 0)  # (arrival monotonic s, q, v, stamp ns)
        self.inputs = StampedInputs()
        self.frames = frames
        self.frame_errors = 0  # task-input messages dropped for a frame without a transform

    def on_joint_state(self, msg) -> None:
        """Store a sensor_msgs/JointState; raises conversions.MessageError when malformed."""
        positions, velocities = joint_state_to_dicts(msg)
        self._joint = (time.monotonic(), positions, velocities, stamp_ns(msg.header.stamp))

    def on_point(self, name: str, msg) -> None:
        """Store a geometry_msgs/PointStamped of task input `name`, in the base frame.

        An empty frame_id is the base frame; any other frame is transformed with its static
        transform (`m3po_learning.frames.FrameTree`).

        Raises:
            MessageError: no transform is known for its frame_id (the point is dropped: a
                goal in a camera frame read as base coordinates would send the arm astray).
        """
        from m3po_learning.frames import FrameError

        xyz = point_to_array(msg)
        if self.frames is not None:
            try:
                xyz = self.frames.point_to_base(msg.header.frame_id, xyz)
            except FrameError as exc:
                self.frame_errors += 1
                raise MessageError(f"task input {name!r} dropped: {exc}") from None
        self.inputs.add(name, stamp_ns(msg.header.stamp), xyz)

    def on_pose(self, pose_input, msg) -> None:
        """Store a geometry_msgs/PoseStamped goal as the points of `pose_input`, in the base.

        `pose_input` is the task's `PoseInput` (e.g. arm7/reach_pose: the goal position and
        points along the goal's x and z axes), so the observation is the env's.

        Raises:
            MessageError: no transform is known for its frame_id, or the orientation is no
                rotation (zero or non-finite quaternion); the pose is dropped.
        """
        from transforms3d.quaternions import quat2mat

        from m3po_learning.frames import FrameError, FrameTree

        xyz, quat = pose_to_arrays(msg)
        frames = self.frames or FrameTree("")
        try:
            xyz, quat = frames.pose_to_base(msg.header.frame_id, xyz, quat)
        except FrameError as exc:
            self.frame_errors += 1
            raise MessageError(f"pose input {pose_input.topic!r} dropped: {exc}") from None
        stamp = stamp_ns(msg.header.stamp)
        for name, value in pose_input.points(xyz, quat2mat(quat)).items():
            self.inputs.add(name, stamp, value)

    def snapshot(self) -> SensorSnapshot:
        """The latest joint state with each input as of its stamp."""
        arrival, positions, velocities, stamp = self._joint
        return SensorSnapshot(positions, velocities, self.inputs.as_of(stamp), arrival)
