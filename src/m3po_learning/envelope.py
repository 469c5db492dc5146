"""The envelope a robot runs in: its drives' velocity limits and the controller's safety limits.

On the robot, the drive keeps each joint within its URDF velocity limit and the
controller's safety layer (`m3po_ros.safety.SafetyLayer`) clips effort, cuts effort that
pushes past a position limit, and limits how fast the effort may change. Training applies
the same rules to the actions it simulates, so the agent learns inside the envelope it will
run in instead of learning behaviour the safety layer then cuts.

Pure NumPy (no MuJoCo, no ROS): the controller's safety layer takes its defaults from here.
Everything is in normalised effort units (1 = the joint's effort limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Envelope:
    """Limits applied to an effort-drive robot's actions (`None` fields: not applied).

    Attributes:
        max_effort_fraction: command limit as a fraction of the effort limit.
        max_effort_rate: largest change of the command per second, in effort limits per
            second (the safety layer's rate limit).
        position_margin: inside this distance of a position limit, effort pushing further
            out is cut (rad or m).
        velocity_taper: the drive's velocity limit: effort in the direction of motion fades
            to zero over the last `velocity_taper` x limit below the URDF velocity limit, and
            the joint velocity saturates at the limit, every physics step (None: no
            velocity limit).
    """

    max_effort_fraction: float | None = 1.0
    max_effort_rate: float | None = 50.0
    position_margin: float | None = 0.05
    velocity_taper: float | None = 0.1

    def __post_init__(self) -> None:
        f, r, m, t = (
            self.max_effort_fraction,
            self.max_effort_rate,
            self.position_margin,
            self.velocity_taper,
        )
        if f is not None and not 0.0 <= f <= 1.0:
            raise ValueError(f"max_effort_fraction={f} not in [0, 1]")
        if r is not None and not r > 0:
            raise ValueError(f"max_effort_rate={r} must be > 0")
        if m is not None and not m >= 0:
            raise ValueError(f"position_margin={m} must be >= 0")
        if t is not None and not 0 < t <= 1:
            raise ValueError(f"velocity_taper={t} not in (0, 1]")

    @classmethod
    def drive_only(cls) -> Envelope:
        """Only what the robot's drives do (the velocity limit).

        For a simulated robot whose controller applies its own safety layer (`sim_node`).
        """
        return cls(max_effort_fraction=None, max_effort_rate=None, position_margin=None)

    @classmethod
    def none(cls) -> Envelope:
        """No limits beyond the effort limit itself."""
        return cls(None, None, None, None)


DEFAULT_ENVELOPE = Envelope()


class EnvelopeFilter:
    """`Envelope` for one robot: `control` once per control period, `drive` per physics step.

    Args:
        envelope: the limits.
        pos_lo, pos_hi: (J,) position limits of the actuated joints (+-inf: none).
        vel_max: (J,) velocity limits (inf: none).
        control_dt: seconds per control period (for the rate limit).
    """

    def __init__(
        self,
        envelope: Envelope,
        pos_lo: np.ndarray,
        pos_hi: np.ndarray,
        vel_max: np.ndarray,
        control_dt: float,
    ) -> None:
        self.envelope = envelope
        e = envelope
        self._lo = np.asarray(pos_lo, np.float64) + (e.position_margin or 0.0)
        self._hi = np.asarray(pos_hi, np.float64) - (e.position_margin or 0.0)
        self._cut_positions = e.position_margin is not None and bool(
            np.isfinite(pos_lo).any() or np.isfinite(pos_hi).any()
        )
        self._frac = e.max_effort_fraction
        self._step = None if e.max_effort_rate is None else e.max_effort_rate * control_dt
        vmax = np.asarray(vel_max, np.float64)
        self.limits_velocity = e.velocity_taper is not None and bool(np.isfinite(vmax).any())
        taper = e.velocity_taper or 1.0
        # The drive scales the effort along the motion by clip((vmax - |v|) / (taper x vmax),
        # 0, 1): full effort well below the limit, none at it; effort against the motion passes.
        self._unlimited = ~np.isfinite(vmax)
        self._vmax = np.where(self._unlimited, 0.0, vmax)
        self._inv_band = np.where(self._unlimited, 0.0, 1.0 / (taper * np.maximum(vmax, 1e-9)))
        self.vel_bound = np.where(self._unlimited, np.inf, vmax)  # what `clamp` holds
        self._free_below = np.where(self._unlimited, np.inf, (1.0 - taper) * vmax)
        self._last = np.zeros(len(vmax))
        self._out = np.zeros(len(vmax))

    @property
    def active(self) -> bool:
        """Whether `control` changes anything (else the env skips it)."""
        return self._frac is not None or self._step is not None or self._cut_positions

    def reset(self) -> None:
        """A new episode: the rate limit starts from zero effort (as the controller's)."""
        self._last[:] = 0.0

    def control(self, action: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The action (J,) in [-1, 1] after the effort, position and rate limits."""
        u = self._out
        u[:] = action
        if self._frac is not None and self._frac < 1.0:
            np.clip(u, -self._frac, self._frac, out=u)
        if self._cut_positions:
            u[((positions >= self._hi) & (u > 0)) | ((positions <= self._lo) & (u < 0))] = 0.0
        if self._step is not None:
            np.clip(u, self._last - self._step, self._last + self._step, out=u)
        self._last[:] = u
        return u

    def drive(self, ctrl: np.ndarray, velocities: np.ndarray) -> np.ndarray:
        """The effort (J,) the drive lets through at joint `velocities` (velocity limit)."""
        speed = np.abs(velocities)
        if (speed < self._free_below).all():  # the common case: nowhere near a limit
            return ctrl
        scale = np.clip((self._vmax - speed) * self._inv_band, 0.0, 1.0)
        scale[self._unlimited] = 1.0
        return np.where(ctrl * velocities > 0.0, ctrl * scale, ctrl)

    def clamp(self, velocities: np.ndarray) -> np.ndarray:
        """Velocities (J,) saturated at the limits, as a velocity-limited drive holds them.

        The taper stops the drive pushing at the limit; what still carries a joint past it
        (a neighbour's reaction, a stop at a position limit, gravity) the drive absorbs.
        """
        return np.clip(velocities, -self.vel_bound, self.vel_bound)

    def clamp_in_place(self, velocities: np.ndarray) -> None:
        """`clamp`, writing into `velocities` (an MjData view) only where a limit is passed."""
        if (np.abs(velocities) > self.vel_bound).any():
            np.clip(velocities, -self.vel_bound, self.vel_bound, out=velocities)
