"""Read joint names, types and limits straight from a URDF file (what the ROS side sees)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MOVABLE_TYPES = ("revolute", "continuous", "prismatic")


class UrdfError(ValueError):
    """A URDF file that cannot be used: unreadable, malformed, or missing what a task needs."""


@dataclass(frozen=True)
class UrdfJoint:
    """One `<joint>` of a URDF, with its `<limit>` values (inf where the URDF gives none)."""

    name: str  # joint name, as published in sensor_msgs/JointState
    type: str  # revolute | continuous | prismatic | fixed | floating | planar
    parent: str  # parent link name
    child: str  # child link name
    lower: float  # position lower limit, rad or m (-inf when unlimited)
    upper: float  # position upper limit, rad or m (+inf when unlimited)
    velocity: float  # velocity limit, rad/s or m/s (inf when not given)
    effort: float  # effort limit, N m or N (0 when not given: a passive joint)

    @property
    def movable(self) -> bool:
        """True for the 1-DoF joint types: revolute, continuous, prismatic (MOVABLE_TYPES)."""
        return self.type in MOVABLE_TYPES


def _number(elem: ET.Element, key: str, default: float, path: Path, joint: str) -> float:
    raw = elem.get(key)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise UrdfError(f"URDF file {str(path)!r}: joint {joint!r} has {key}={raw!r}") from exc


def read_urdf_joints(path: str | Path) -> list[UrdfJoint]:
    """All joints of the URDF at `path`, in file order."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise UrdfError(f"URDF file {str(path)!r} does not exist") from exc
    except ET.ParseError as exc:
        raise UrdfError(f"URDF file {str(path)!r} is not valid XML: {exc}") from exc
    if root.tag != "robot":
        raise UrdfError(f"URDF file {str(path)!r}: root element is <{root.tag}>, not <robot>")
    joints = []
    for elem in root.findall("joint"):
        name = elem.get("name")
        jtype = elem.get("type", "")
        parent, child = elem.find("parent"), elem.find("child")
        if not name or parent is None or child is None:
            raise UrdfError(f"URDF file {str(path)!r}: a <joint> lacks a name, parent or child")
        limit = elem.find("limit")
        lower, upper = -math.inf, math.inf
        velocity, effort = math.inf, 0.0
        if limit is not None:
            velocity = _number(limit, "velocity", math.inf, path, name)
            effort = _number(limit, "effort", 0.0, path, name)
            if jtype in ("revolute", "prismatic"):
                lower = _number(limit, "lower", 0.0, path, name)
                upper = _number(limit, "upper", 0.0, path, name)
        joints.append(
            UrdfJoint(
                name=name,
                type=jtype,
                parent=parent.get("link", ""),
                child=child.get("link", ""),
                lower=lower,
                upper=upper,
                velocity=velocity,
                effort=effort,
            )
        )
    return joints


def leaf_links(joints: list[UrdfJoint]) -> list[str]:
    """Links that are no joint's parent: candidate end-effector frames, in file order."""
    parents = {j.parent for j in joints}
    return [j.child for j in joints if j.child not in parents]
