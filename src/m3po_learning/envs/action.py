"""Action specs: what a normalised action means for each actuated joint, defined once.

Actions are in [-1, 1] per actuated joint, in action order; under the effort drive 1 is the
joint's effort limit (the URDF's `<limit effort>`, or a dm_control actuator's gear x control
range); the position and velocity drives are in `m3po_learning.envs.drive`. The env
applies it through its motors, the controller turns the policy's action into the effort it
publishes, the sim node and the bag reader turn recorded efforts back into actions, and the
safety layer clamps against the same limits. All of them do it through `ActionSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from m3po_learning.envs.drive import DRIVES, UNITS, DriveError, action_scale


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
    drive: str = "effort"  # what an action commands: "effort", "position", "velocity"
    control_dt: float = 0.02  # s per action (the position drive's step is speed x this)
    names: tuple[str, ...] = field(init=False)
    effort_max: np.ndarray = field(init=False, repr=False)  # (J,) action 1 -> this effort
    vel_max: np.ndarray = field(init=False, repr=False)  # (J,) +inf where none is given
    pos_lo: np.ndarray = field(init=False, repr=False)  # (J,) -inf where unlimited
    pos_hi: np.ndarray = field(init=False, repr=False)  # (J,) +inf where unlimited
    scale: np.ndarray = field(init=False, repr=False)  # (J,) action 1 -> this command

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
        if self.drive not in DRIVES:
            raise DriveError(f"unknown drive {self.drive!r}; drives: {', '.join(DRIVES)}")
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
        set_(
            self,
            "scale",
            arr(action_scale(self.drive, self.effort_max, self.vel_max, self.control_dt)),
        )

    @classmethod
    def from_limits(
        cls,
        names: Sequence[str],
        limits: Mapping[str, JointLimit],
        drive: str = "effort",
        control_dt: float = 0.02,
    ) -> ActionSpec:
        """The spec of `names` (action order) from a {joint: JointLimit} map, e.g. the env's.

        Raises:
            KeyError: a joint in `names` has no limits; the message lists the known joints.
        """
        missing = [n for n in names if n not in limits]
        if missing:
            raise KeyError(f"no limits for joints {missing} (have {sorted(limits)})")
        return cls(tuple(limits[n] for n in names), drive, control_dt)

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

    # -- the drive's command (effort, position or velocity setpoint) -------------------------
    @property
    def units(self) -> str:
        """Units of the drive's command."""
        return UNITS[self.drive]

    def to_command(self, action: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Normalised action (J,) in [-1, 1] at joint positions (J,) -> the drive's command.

        Effort: a x effort limit. Position: q + a x step, inside the joint's range. Velocity:
        a x velocity limit (see `m3po_learning.envs.drive`).
        """
        a = np.asarray(action, np.float64)
        if self.drive == "position":
            target = np.asarray(positions, np.float64) + a * self.scale
            return np.clip(target, self.pos_lo, self.pos_hi)
        return a * self.scale

    def command_to_action(self, command: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Inverse of `to_command` (a received command back to an action), clipped to [-1, 1]."""
        c = np.asarray(command, np.float64)
        if self.drive == "position":
            c = c - np.asarray(positions, np.float64)
        return np.clip(c / self.scale, -1.0, 1.0)

    def hold_command(self, positions: np.ndarray | None) -> np.ndarray | None:
        """The drive's safe command: zero effort, zero velocity, or hold `positions`.

        None for a position drive that does not know where the joints are.
        """
        if self.drive == "position":
            return None if positions is None else np.asarray(positions, np.float64).copy()
        return np.zeros(self.dim)

    def saturated(self, effort: np.ndarray) -> np.ndarray:
        """Where efforts (..., J) exceed the effort limits (what `to_action` clips)."""
        return np.abs(np.asarray(effort, np.float64)) > self.effort_max
