"""Action specs: what a normalised action means for each actuated joint, defined once.

Actions are in [-1, 1] per actuated joint, in action order; 1 is the joint's effort limit
(the URDF's `<limit effort>`, or a dm_control actuator's gear x control range). The env
applies it through its motors, the controller turns the policy's action into the effort it
publishes, the sim node and the bag reader turn recorded efforts back into actions, and the
safety layer clamps against the same limits. All of them do it through `ActionSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointLimit:
    """The limits of one joint, as the robot description gives them.

    Attributes:
        joint: joint name.
        effort: effort limit, N m or N (0 for a passive joint).
        velocity: velocity limit, rad/s or m/s (inf when none is given).
        position: (lower, upper) position range, rad or m (+-inf when unlimited).
    """

    joint: str
    effort: float
    velocity: float = math.inf
    position: tuple[float, float] = (-math.inf, math.inf)


@dataclass(frozen=True)
class ActionSpec:
    """The actuated joints in action order with their limits, and the one conversion.

    Attributes:
        joints: one `JointLimit` per action dimension, in action order.
    """

    joints: tuple[JointLimit, ...]
    names: tuple[str, ...] = field(init=False)
    effort_max: np.ndarray = field(init=False, repr=False)  # (J,) action 1 -> this effort
    vel_max: np.ndarray = field(init=False, repr=False)  # (J,) +inf where none is given
    pos_lo: np.ndarray = field(init=False, repr=False)  # (J,) -inf where unlimited
    pos_hi: np.ndarray = field(init=False, repr=False)  # (J,) +inf where unlimited

    def __post_init__(self) -> None:
        joints = tuple(self.joints)
        if not joints:
            raise ValueError("ActionSpec needs at least one actuated joint")
        bad = [
            (j.joint, j.effort) for j in joints if not (math.isfinite(j.effort) and j.effort > 0)
        ]
        if bad:
            raise ValueError(
                f"effort limits must be finite and > 0 for every actuated joint; got {bad}"
            )
        names = tuple(j.joint for j in joints)
        if len(set(names)) != len(names):
            raise ValueError(f"ActionSpec lists a joint twice: {list(names)}")

        def arr(values) -> np.ndarray:
            a = np.array(values, np.float64)
            a.setflags(write=False)
            return a

        set_ = object.__setattr__
        set_(self, "joints", joints)
        set_(self, "names", names)
        set_(self, "effort_max", arr([j.effort for j in joints]))
        set_(self, "vel_max", arr([j.velocity if j.velocity > 0 else math.inf for j in joints]))
        set_(self, "pos_lo", arr([j.position[0] for j in joints]))
        set_(self, "pos_hi", arr([j.position[1] for j in joints]))

    @classmethod
    def from_limits(cls, names: Sequence[str], limits: Mapping[str, JointLimit]) -> ActionSpec:
        """The spec of `names` (action order) from a {joint: JointLimit} map, e.g. the env's.

        Raises:
            KeyError: a joint in `names` has no limits; the message lists the known joints.
        """
        missing = [n for n in names if n not in limits]
        if missing:
            raise KeyError(f"no limits for joints {missing} (have {sorted(limits)})")
        return cls(tuple(limits[n] for n in names))

    @property
    def dim(self) -> int:
        """Number of action dimensions (actuated joints)."""
        return len(self.joints)

    def to_effort(self, action: np.ndarray) -> np.ndarray:
        """Normalised action(s) (..., J) in [-1, 1] -> efforts (..., J), N m or N."""
        return np.asarray(action, np.float64) * self.effort_max

    def to_action(self, effort: np.ndarray) -> np.ndarray:
        """Efforts (..., J) -> normalised actions (..., J), clipped to [-1, 1]."""
        return np.clip(np.asarray(effort, np.float64) / self.effort_max, -1.0, 1.0)

    def saturated(self, effort: np.ndarray) -> np.ndarray:
        """Where efforts (..., J) exceed the effort limits (what `to_action` clips)."""
        return np.abs(np.asarray(effort, np.float64)) > self.effort_max
