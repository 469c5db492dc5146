"""Turning CDR messages of the stack's standard types into time-stamped numpy rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from m3po_learning.datasets.errors import BagError

JOINT_STATE_TYPES = ("sensor_msgs/msg/JointState",)
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"  # position setpoints, joints by name
COMMAND_TYPES = ("std_msgs/msg/Float64MultiArray", "std_msgs/msg/Float32MultiArray", TRAJECTORY)
POINT_TYPES = {
    "geometry_msgs/msg/PointStamped": ("point", True),
    "geometry_msgs/msg/Vector3Stamped": ("vector", True),
    "geometry_msgs/msg/PoseStamped": ("pose", True),
    "geometry_msgs/msg/Point": ("", False),
    "geometry_msgs/msg/Vector3": ("", False),
    "std_msgs/msg/Float64MultiArray": ("data", False),
    "std_msgs/msg/Float32MultiArray": ("data", False),
}


def make_typestore():
    """The ROS 2 Kilted type store of `rosbags` (standard messages need no bag definitions)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def register_from_bag(typestore, msgtype: str, msgdef: tuple[str, str], where: str) -> None:
    """Add `msgtype` to `typestore` from the definition a bag carries, or raise BagError."""
    if msgtype in typestore.fielddefs:
        return
    fmt, text = msgdef
    if not text:
        raise BagError(
            f"{where}: message type {msgtype!r} is unknown and the bag carries no "
            "definition for it"
        )
    from rosbags.typesys import get_types_from_idl, get_types_from_msg

    try:
        if fmt in ("idl", "ros2idl"):
            typs = {}
            sep = "=" * 80 + "\n"
            for part in text.split(sep):
                if part.startswith("IDL: "):
                    typs.update(get_types_from_idl(part.split("\n", 1)[1]))
        else:
            typs = get_types_from_msg(text, msgtype)
        typestore.register(typs)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the bag's bad definition
        raise BagError(
            f"{where}: cannot parse the bag's definition of {msgtype!r}: {exc}"
        ) from exc


def _stamp_ns(header) -> int:
    ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    return ns if ns > 0 else -1


def _check_type(role: str, topic: str, msgtype: str, allowed: Sequence[str], bag: str) -> None:
    if msgtype not in allowed:
        raise BagError(
            f"bag {bag}: topic {topic} for {role} has message type {msgtype!r}, "
            f"which the reader does not support; supported: {list(allowed)}"
        )


class _Rows:
    """Growable columns: log time, header stamp (-1: none) and a float row per message."""

    def __init__(self, width: int):
        self.log: list[int] = []
        self.stamp: list[int] = []
        self.values: list[np.ndarray] = []
        self.width = width

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log = np.asarray(self.log, np.int64)
        stamp = np.asarray(self.stamp, np.int64)
        vals = np.stack(self.values) if self.values else np.zeros((0, self.width))
        return log, stamp, vals.astype(np.float64, copy=False)

    def __len__(self) -> int:
        return len(self.log)


class JointStateDecoder(_Rows):
    """sensor_msgs/JointState -> positions then velocities of `joints` (by name, any order)."""

    def __init__(
        self,
        topic: str,
        msgtype: str,
        joints: Sequence[str],
        need_velocity: Sequence[str],
        required: Sequence[str],
        bag: str,
        task: str,
        rename: Callable[[Sequence[str]], tuple[str, ...]] | None = None,
    ):
        _check_type("joint_states", topic, msgtype, JOINT_STATE_TYPES, bag)
        super().__init__(2 * len(joints))
        self.rename = rename  # bag joint names -> the task's (a topic map's joint_map)
        self.topic, self.msgtype, self.bag, self.task = topic, msgtype, bag, task
        self.joints = list(joints)
        self.required = set(required)
        self.need_velocity = set(need_velocity)
        self._layouts: dict[tuple, np.ndarray] = {}
        self._complete: dict[tuple, bool] = {}  # layout carries every wanted joint

    def _layout(self, names: tuple) -> np.ndarray:
        if self.rename is not None:
            names = self.rename(names)
        index = {n: i for i, n in enumerate(names)}
        missing = sorted(j for j in self.required if j not in index)
        if missing:
            raise BagError(
                f"bag {self.bag}: joint names on {self.topic} {list(names)} do not match the "
                f"checkpoint's task {self.task!r}, which needs joints {self.joints} "
                f"(missing {missing}; a robot that names them otherwise: --joint-map "
                "BAG_JOINT=TASK_JOINT,... or joint_map in the topic map)"
            )
        return np.array([index.get(j, -1) for j in self.joints], np.intp)

    def add(self, log_ns: int, msg) -> None:
        """Append one JointState received at `log_ns` as a row (2 J,): positions, velocities.

        Joints the message lacks (and velocities it does not carry) are NaN. Raises BagError
        when a required joint is missing, the names and positions disagree in length, or
        velocities are needed but absent.
        """
        names = tuple(msg.name)
        idx = self._layouts.get(names)
        if idx is None:
            idx = self._layouts[names] = self._layout(names)
            self._complete[names] = bool((idx >= 0).all())
        pos, vel = msg.position, msg.velocity
        if len(pos) != len(names):
            raise BagError(
                f"bag {self.bag}: a JointState on {self.topic} has {len(names)} names "
                f"but {len(pos)} positions"
            )
        if len(vel) == len(names) and self._complete.get(names, False):
            self.log.append(log_ns)
            self.stamp.append(_stamp_ns(msg.header))
            self.values.append(np.concatenate((pos[idx], vel[idx])))
            return
        row = np.full(self.width, np.nan)
        ok = idx >= 0
        row[: len(idx)][ok] = pos[idx[ok]]
        if len(vel) == len(names):
            row[len(idx) :][ok] = vel[idx[ok]]
        elif self.need_velocity:
            raise BagError(
                f"bag {self.bag}: a JointState on {self.topic} carries no velocities, but the "
                f"observation of {self.task!r} needs the velocities of "
                f"{sorted(self.need_velocity)}"
            )
        self.log.append(log_ns)
        self.stamp.append(_stamp_ns(msg.header))
        self.values.append(row)


class CommandDecoder(_Rows):
    """std_msgs/Float64MultiArray efforts in the task's joint order -> rows of `len(joints)`."""

    def __init__(self, topic: str, msgtype: str, joints: Sequence[str], bag: str, task: str):
        _check_type("commands", topic, msgtype, COMMAND_TYPES, bag)
        super().__init__(len(joints))
        self.topic, self.bag, self.task, self.joints = topic, bag, task, list(joints)
        self._checked_labels = False
        self._trajectory = msgtype == TRAJECTORY

    def add(self, log_ns: int, msg) -> None:
        """Append one command received at `log_ns` as a row (J,); it has no header stamp.

        Raises BagError on a wrong length, or when the first message's layout label lists
        joint names other than the task's, in order.
        """
        if self._trajectory:
            self._add_trajectory(log_ns, msg)
            return
        data = np.asarray(msg.data, np.float64)
        if data.shape != (self.width,):
            raise BagError(
                f"bag {self.bag}: a command on {self.topic} has {data.size} values, but task "
                f"{self.task!r} drives {self.width} joints {self.joints}"
            )
        if not self._checked_labels:
            self._checked_labels = True
            labels = [d.label for d in msg.layout.dim]
            # A layout label that lists joint names must list the checkpoint's, in order.
            if labels and "," in labels[0]:
                names = [s.strip() for s in labels[0].split(",")]
                if names != self.joints:
                    raise BagError(
                        f"bag {self.bag}: commands on {self.topic} are labelled for joints "
                        f"{names}, but the checkpoint's task {self.task!r} drives {self.joints}"
                    )
        self.log.append(log_ns)
        self.stamp.append(-1)
        self.values.append(data)

    def _add_trajectory(self, log_ns: int, msg) -> None:
        """A JointTrajectory command: its last point's positions, mapped by joint name."""
        names = list(msg.joint_names)
        missing = [j for j in self.joints if j not in names]
        if not msg.points or missing or len(msg.points[-1].positions) != len(names):
            why = (
                "has no points"
                if not msg.points
                else f"lacks joints {missing}"
                if missing
                else "has positions that do not match its joint names"
            )
            raise BagError(
                f"bag {self.bag}: a JointTrajectory on {self.topic} {why} (task {self.task!r} "
                f"drives {self.joints})"
            )
        positions = msg.points[-1].positions
        self.log.append(log_ns)
        self.stamp.append(-1)
        self.values.append(np.array([positions[names.index(j)] for j in self.joints], float))


class InputDecoder(_Rows):
    """A task input (e.g. the goal point) from a point-like message -> rows of `size`."""

    def __init__(self, name: str, topic: str, msgtype: str, size: int, bag: str):
        _check_type(f"input {name!r}", topic, msgtype, list(POINT_TYPES), bag)
        super().__init__(size)
        self.name, self.topic, self.bag = name, topic, bag
        self.field, self.has_header = POINT_TYPES[msgtype]

    def add(self, log_ns: int, msg) -> None:
        """Append one input message received at `log_ns` as a row (size,).

        Raises BagError when the message's size differs from the observation's.
        """
        if self.field == "data":
            v = np.asarray(msg.data, np.float64)
        else:
            p = msg if not self.field else getattr(msg, self.field)
            if self.field == "pose":
                p = p.position
            v = np.array([p.x, p.y, p.z], np.float64)
        if v.shape != (self.width,):
            raise BagError(
                f"bag {self.bag}: input {self.name!r} on {self.topic} has {v.size} "
                f"values, the observation expects {self.width}"
            )
        self.log.append(log_ns)
        self.stamp.append(_stamp_ns(msg.header) if self.has_header else -1)
        self.values.append(v)


class MarkerDecoder(_Rows):
    """Any message on a split_on topic: only its time matters."""

    raw = True  # needs no deserialisation

    def __init__(self):
        super().__init__(0)

    def add_time(self, log_ns: int) -> None:
        """Record a marker message received at `log_ns` (an empty row, no stamp)."""
        self.log.append(log_ns)
        self.stamp.append(-1)
        self.values.append(np.zeros(0))
