"""Coordinate frames of task inputs: static transforms into a task's base frame (transforms3d).

A goal may arrive in any frame a robot has: the base link, a fixed `world` or `table` frame,
a camera mounted on a fixed joint. The controller reads it in the task's base frame (the
URDF's root link, where the simulation placed the robot at the origin), so every other frame
needs a known, static transform. `FrameTree` holds them: from the URDF's fixed joints (links
rigidly attached to the root) and from explicit ones (`parse_transforms`, the controller's
`static_transforms` parameter). The maths (Euler angles, quaternions, 4x4 affines) is
transforms3d's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from transforms3d.affines import compose
from transforms3d.euler import euler2mat
from transforms3d.quaternions import mat2quat, quat2mat

# In simulation the URDF root sits at MuJoCo's world origin; a robot whose `world` is
# elsewhere overrides this with an explicit transform.
DEFAULT_TRANSFORMS = "world: 0 0 0 0 0 0"


_IDENTITY = np.eye(4)


class FrameError(ValueError):
    """An unknown frame, or a transform that cannot be parsed; the message says which."""


def transform(xyz, rotation) -> np.ndarray:
    """4x4 affine from a translation (3,) and a rotation: rpy (3,) or quaternion wxyz (4,)."""
    rotation = np.asarray(rotation, np.float64)
    if rotation.shape == (3,):
        rot = euler2mat(*rotation, axes="sxyz")  # URDF rpy: fixed-axis roll, pitch, yaw
    elif rotation.shape == (4,):
        norm = np.linalg.norm(rotation)
        if not np.isfinite(norm) or norm < 1e-9:
            raise FrameError(f"quaternion {rotation.tolist()} has no direction")
        rot = quat2mat(rotation / norm)
    else:
        raise FrameError(f"rotation {rotation.tolist()}: give roll pitch yaw or qw qx qy qz")
    return compose(np.asarray(xyz, np.float64), rot, np.ones(3))


def parse_transforms(text: str) -> dict[str, np.ndarray]:
    """'frame: x y z roll pitch yaw; other: x y z qw qx qy qz' -> {frame: 4x4 pose in base}.

    Each entry is the pose of `frame` in the base frame (a point p in `frame` is
    T @ p in the base frame). Six numbers take URDF roll/pitch/yaw (rad), seven a unit
    quaternion (w first, normalised here).
    """
    out: dict[str, np.ndarray] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        frame, sep, rest = entry.partition(":")
        frame = frame.strip()
        try:
            values = [float(v) for v in rest.replace(",", " ").split()]
        except ValueError:
            values = []
        if not sep or not frame or len(values) not in (6, 7) or not np.all(np.isfinite(values)):
            raise FrameError(
                f"static transform {entry!r} is not 'frame: x y z roll pitch yaw' or "
                "'frame: x y z qw qx qy qz' (entries separated by ';')"
            )
        out[frame] = transform(values[:3], values[3:])
    return out


def _origin(elem: ET.Element | None) -> np.ndarray:
    if elem is None:
        return np.eye(4)
    xyz = [float(v) for v in elem.get("xyz", "0 0 0").split()]
    rpy = [float(v) for v in elem.get("rpy", "0 0 0").split()]
    return transform(xyz, rpy)


def urdf_static_frames(urdf: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(root link, {link: pose in the root}) for the links fixed to the root.

    Links below a movable joint move with the robot and are left out: a goal in such a frame
    would need the joint positions at the goal's stamp, not a static transform.
    """
    root = ET.parse(urdf).getroot()
    children = {j.find("child").get("link"): j for j in root.findall("joint")}
    links = [link.get("name") for link in root.findall("link")]
    roots = [link for link in links if link not in children]
    if len(roots) != 1:
        raise FrameError(f"URDF {str(urdf)!r} has {len(roots)} root links: {roots}")
    base = roots[0]
    frames = {base: np.eye(4)}
    pending = True
    while pending:
        pending = False
        for child, joint in children.items():
            parent = joint.find("parent").get("link")
            if child in frames or parent not in frames or joint.get("type") != "fixed":
                continue
            frames[child] = frames[parent] @ _origin(joint.find("origin"))
            pending = True
    return base, frames


class FrameTree:
    """Static poses of known frames in one base frame; points and poses into the base.

    Args:
        base: the base frame's name (a task's URDF root link).
        poses: {frame: 4x4 pose of the frame in the base frame}; the base itself is added.
    """

    def __init__(self, base: str, poses: Mapping[str, np.ndarray] | None = None) -> None:
        self.base = base
        self.poses = {base: np.eye(4), **dict(poses or {})}

    @classmethod
    def for_urdf(cls, urdf: str | Path, extra: str = DEFAULT_TRANSFORMS) -> FrameTree:
        """The URDF's fixed frames plus `extra` (`parse_transforms` text; it wins on a clash)."""
        base, frames = urdf_static_frames(urdf)
        return cls(base, {**frames, **parse_transforms(extra)})

    @property
    def frames(self) -> list[str]:
        """Every frame with a known transform, sorted."""
        return sorted(self.poses)

    def pose(self, frame: str) -> np.ndarray:
        """4x4 pose of `frame` in the base; "" is the base. FrameError for an unknown one."""
        if not frame:
            return self.poses[self.base]
        try:
            return self.poses[frame]
        except KeyError:
            raise FrameError(
                f"no transform from frame {frame!r} to the task's base frame {self.base!r}; "
                f"known frames: {', '.join(self.frames)} (add one with the controller's "
                "static_transforms parameter, e.g. 'camera: x y z roll pitch yaw')"
            ) from None

    def point_to_base(self, frame: str, xyz) -> np.ndarray:
        """A point (3,) given in `frame`, in the base frame (as given where that is identity)."""
        t = self.pose(frame)
        xyz = np.asarray(xyz, np.float64)
        if np.array_equal(t, _IDENTITY):
            return xyz.copy()
        return t[:3, :3] @ xyz + t[:3, 3]

    def pose_to_base(self, frame: str, xyz, quat_wxyz) -> tuple[np.ndarray, np.ndarray]:
        """A pose (position (3,), unit quaternion wxyz (4,)) in `frame`, in the base frame."""
        t = self.pose(frame)
        q = np.asarray(quat_wxyz, np.float64)
        norm = np.linalg.norm(q)
        if not np.isfinite(norm) or norm < 1e-9:
            raise FrameError(f"orientation quaternion {q.tolist()} has no direction")
        rot = t[:3, :3] @ quat2mat(q / norm)
        quat = mat2quat(rot)
        return self.point_to_base(frame, xyz), quat if quat[0] >= 0 else -quat
