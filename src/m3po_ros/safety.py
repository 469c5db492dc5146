"""Safety layer between the model and the command topic: limits, rate limit, watchdog, e-stop.

Pure Python and NumPy; the controller node calls `SafetyLayer.filter` once per tick. The
output is always finite and within the effort limits: whatever the model, the sensors or a
bug upstream produce, NaN/Inf never reaches `joint_commands`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from m3po_learning.envelope import DEFAULT_ENVELOPE

if TYPE_CHECKING:  # the spec only; importing m3po_learning.envs loads MuJoCo
    from m3po_learning.envs.action import ActionSpec


class SafetyState(StrEnum):
    """Why the last command looks the way it does."""

    OK = "ok"  # model command passed (possibly clipped)
    NO_SENSORS = "no_sensors"  # no joint_states received yet: safe command
    STALE = "stale"  # joint_states older than the timeout: safe command (watchdog)
    ESTOP = "estop"  # e-stop engaged: zero effort immediately, latched until released
    REJECTED = "rejected"  # model command or sensor reading was NaN/Inf: safe command


@dataclass(frozen=True)
class SafetyConfig:
    """Settings of the safety layer (from the controller's parameters)."""

    # Defaults: the envelope training acts within (m3po_learning.envelope).
    max_effort_fraction: float = DEFAULT_ENVELOPE.max_effort_fraction  # of the effort limit
    max_effort_rate: float = DEFAULT_ENVELOPE.max_effort_rate  # effort limits per second
    position_margin: float = DEFAULT_ENVELOPE.position_margin  # outward effort cut inside it
    sensor_timeout_s: float = 0.1  # watchdog: joint readings older than this are stale

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_effort_fraction <= 1.0:
            raise ValueError(f"max_effort_fraction={self.max_effort_fraction} not in [0, 1]")
        if not self.max_effort_rate > 0:
            raise ValueError(f"max_effort_rate={self.max_effort_rate} must be > 0")
        if not self.position_margin >= 0:
            raise ValueError(f"position_margin={self.position_margin} must be >= 0")
        if not self.sensor_timeout_s > 0:
            raise ValueError(f"sensor_timeout_s={self.sensor_timeout_s} must be > 0")


@dataclass
class SafetyCounters:
    """How often each protection acted since start (reported on /diagnostics)."""

    rejected_commands: int = 0  # model outputs with NaN/Inf
    rejected_sensors: int = 0  # ticks whose sensor readings had NaN/Inf
    effort_clips: int = 0  # ticks where the effort limit cut the command
    rate_clips: int = 0  # ticks where the rate limit cut the command
    position_cuts: int = 0  # ticks where a position limit cut outward effort
    velocity_cuts: int = 0  # ticks where a velocity limit cut accelerating effort
    watchdog_trips: int = 0  # transitions into STALE


class _SafetyBase:
    """What both safety layers share: limits, settings, counters, e-stop, watchdog state."""

    def __init__(self, limits: ActionSpec, config: SafetyConfig) -> None:
        self.limits = limits
        self.config = config
        self.counters = SafetyCounters()
        self.estop = False
        self.state = SafetyState.NO_SENSORS

    def sensor_age_ok(self, sensor_age_s: float | None) -> bool:
        """Whether the joint readings are present and at most `sensor_timeout_s` old."""
        return sensor_age_s is not None and sensor_age_s <= self.config.sensor_timeout_s

    def _enter(self, state: SafetyState) -> None:
        """Record this tick's state; entering STALE counts one watchdog trip."""
        if state == SafetyState.STALE and self.state != SafetyState.STALE:
            self.counters.watchdog_trips += 1
        self.state = state


class SafetyLayer(_SafetyBase):
    """Turns a model's effort command into a safe one.

    Order per tick: e-stop, watchdog, NaN/Inf rejection, effort limit, position and velocity
    limits (effort that would drive further past them is cut), then the rate limit. The safe
    command is zero effort; it is reached through the rate limit except under e-stop, which
    is immediate.
    """

    def __init__(self, limits: ActionSpec, config: SafetyConfig) -> None:
        super().__init__(limits, config)
        self.effort_max = limits.effort_max * config.max_effort_fraction
        self._last = np.zeros(len(limits.names))

    @property
    def last_command(self) -> np.ndarray:
        """The last command returned, (J,) effort."""
        return self._last.copy()

    def reset(self) -> None:
        """Forget the last command (e.g. on activation): the rate limit starts from zero."""
        self._last[:] = 0.0

    def safe_command(self) -> np.ndarray:
        """The drive's safe command: zero effort."""
        return self.limits.hold_command(None)

    def filter(
        self,
        effort: np.ndarray | None,
        positions: np.ndarray | None,
        velocities: np.ndarray | None,
        sensor_age_s: float | None,
        dt_s: float,
    ) -> tuple[np.ndarray, SafetyState]:
        """The command to publish for this tick.

        Args:
            effort: (J,) model command in N m / N, or None when the model produced none.
            positions: (J,) current joint positions of the actuated joints (None if unknown).
            velocities: (J,) current joint velocities (None if unknown).
            sensor_age_s: seconds since the joint readings arrived (None: never).
            dt_s: seconds since the previous command (the control period).

        Returns:
            (command (J,) finite effort within limits, state).
        """
        if self.estop:
            self._last[:] = 0.0
            return self._set_state(SafetyState.ESTOP, self._last.copy())
        if sensor_age_s is None:
            return self._set_state(
                SafetyState.NO_SENSORS, self._toward(np.zeros_like(self._last), dt_s)
            )
        if not self.sensor_age_ok(sensor_age_s):
            return self._set_state(
                SafetyState.STALE, self._toward(np.zeros_like(self._last), dt_s)
            )
        sensors_finite = (
            positions is not None
            and velocities is not None
            and bool(np.all(np.isfinite(positions)) and np.all(np.isfinite(velocities)))
        )
        if not sensors_finite:
            self.counters.rejected_sensors += 1
            return self._set_state(
                SafetyState.REJECTED, self._toward(np.zeros_like(self._last), dt_s)
            )
        if effort is None or not np.all(np.isfinite(effort)):
            if effort is not None:
                self.counters.rejected_commands += 1
            return self._set_state(
                SafetyState.REJECTED, self._toward(np.zeros_like(self._last), dt_s)
            )
        u = np.asarray(effort, np.float64).copy()
        lim = self.effort_max
        if np.any(np.abs(u) > lim):
            self.counters.effort_clips += 1
            np.clip(u, -lim, lim, out=u)
        margin = self.config.position_margin
        lo, hi = self.limits.pos_lo, self.limits.pos_hi
        outward = ((positions >= hi - margin) & (u > 0)) | ((positions <= lo + margin) & (u < 0))
        if np.any(outward):
            self.counters.position_cuts += 1
            u[outward] = 0.0
        vmax = self.limits.vel_max
        speeding = (np.abs(velocities) >= vmax) & (np.sign(u) == np.sign(velocities)) & (u != 0)
        if np.any(speeding):
            self.counters.velocity_cuts += 1
            u[speeding] = 0.0
        return self._set_state(SafetyState.OK, self._toward(u, dt_s))

    def _toward(self, target: np.ndarray, dt_s: float) -> np.ndarray:
        """Move the last command toward `target` within the rate limit; store and return it."""
        step = self.config.max_effort_rate * self.limits.effort_max * max(dt_s, 0.0)
        delta = target - self._last
        if np.any(np.abs(delta) > step + 1e-12):
            self.counters.rate_clips += 1
            delta = np.clip(delta, -step, step)
        out = self._last + delta
        # Belt and braces: never hand out a non-finite or out-of-limit number.
        if not np.all(np.isfinite(out)):
            out = np.zeros_like(out)
        np.clip(out, -self.effort_max, self.effort_max, out=out)
        self._last = out
        return out.copy()

    def _set_state(
        self, state: SafetyState, command: np.ndarray
    ) -> tuple[np.ndarray, SafetyState]:
        self._enter(state)
        return command, state


class SetpointSafetyLayer(_SafetyBase):
    """The safety layer of a position or velocity drive (`ActionSpec.drive`).

    Same interface and order as `SafetyLayer`, with the drive's own safe command: a velocity
    drive stops (zero velocity); a position drive holds the position the joints had when the
    fault began, and publishes nothing (None) before it has ever seen them. Per tick:
    position targets are kept `position_margin` inside the joint range and at most
    `max_effort_fraction` x one step (velocity limit x period) from the measured position;
    velocity targets within `max_effort_fraction` x the velocity limit, and zero where they
    would drive further past a position limit.
    """

    def __init__(self, limits: ActionSpec, config: SafetyConfig) -> None:
        super().__init__(limits, config)
        self.drive = limits.drive
        self._last: np.ndarray | None = None
        self._hold: np.ndarray | None = None  # the position held since a fault began
        self._seen: np.ndarray | None = None  # the last finite joint positions

    @property
    def last_command(self) -> np.ndarray:
        """The last command returned, (J,) (zeros before the first)."""
        return np.zeros(self.limits.dim) if self._last is None else self._last.copy()

    def reset(self) -> None:
        """Forget the last command and the held position (e.g. on activation)."""
        self._last = self._hold = None

    def safe_command(self) -> np.ndarray | None:
        """The drive's safe command now: hold (position, None if never seen) or stop."""
        if self._hold is None and self._seen is not None:
            self._hold = self._seen.copy()
        return self.limits.hold_command(self._hold)

    def filter(
        self,
        command: np.ndarray | None,
        positions: np.ndarray | None,
        velocities: np.ndarray | None,
        sensor_age_s: float | None,
        dt_s: float,
    ) -> tuple[np.ndarray | None, SafetyState]:
        """The setpoint to publish for this tick (see `SafetyLayer.filter`); None: none."""
        fresh = self.sensor_age_ok(sensor_age_s)
        finite = (
            positions is not None
            and velocities is not None
            and bool(np.all(np.isfinite(positions)) and np.all(np.isfinite(velocities)))
        )
        if fresh and finite:
            self._seen = np.asarray(positions, np.float64).copy()
        if self.estop:
            return self._safe(SafetyState.ESTOP)
        if sensor_age_s is None:
            return self._safe(SafetyState.NO_SENSORS)
        if not fresh:
            return self._safe(SafetyState.STALE)
        if not finite:
            self.counters.rejected_sensors += 1
            return self._safe(SafetyState.REJECTED)
        if command is None or not np.all(np.isfinite(command)):
            if command is not None:
                self.counters.rejected_commands += 1
            return self._safe(SafetyState.REJECTED)
        u = np.asarray(command, np.float64).copy()
        lim = self.limits.scale * self.config.max_effort_fraction
        margin = self.config.position_margin
        lo, hi = self.limits.pos_lo + margin, self.limits.pos_hi - margin
        if self.drive == "position":
            q = self._seen
            far = np.abs(u - q) > lim + 1e-12
            if np.any(far):
                self.counters.rate_clips += 1
                u = np.clip(u, q - lim, q + lim)
            outside = (u > hi) | (u < lo)
            if np.any(outside):
                self.counters.position_cuts += 1
                u = np.clip(u, np.minimum(lo, q), np.maximum(hi, q))
        else:
            if np.any(np.abs(u) > lim):
                self.counters.velocity_cuts += 1
                np.clip(u, -lim, lim, out=u)
            q = self._seen
            outward = ((q >= hi) & (u > 0)) | ((q <= lo) & (u < 0))
            if np.any(outward):
                self.counters.position_cuts += 1
                u[outward] = 0.0
        self._hold = None
        self._last = u
        self.state = SafetyState.OK
        return u.copy(), SafetyState.OK

    def _safe(self, state: SafetyState) -> tuple[np.ndarray | None, SafetyState]:
        self._enter(state)
        command = self.safe_command()
        if command is not None:
            self._last = command
        return command, state


def make_safety_layer(limits: ActionSpec, config: SafetyConfig):
    """The safety layer for the drive of `limits`: effort or setpoint."""
    if limits.drive == "effort":
        return SafetyLayer(limits, config)
    return SetpointSafetyLayer(limits, config)


def is_finite(values: Sequence[float]) -> bool:
    """True when every value is a finite float."""
    return all(math.isfinite(v) for v in values)


class EStopLatch:
    """E-stop as on an industrial controller: latched by a `true`, cleared only by a reset.

    A `false` on the e-stop topic (or a repeated or stale one) never releases it; a reset
    (the controller's `~/reset_estop` service) does, and only once no `true` has arrived for
    `hold_s`: a publisher still sending `true` (a held button) keeps it engaged.
    """

    def __init__(self, hold_s: float = 0.5) -> None:
        """A released latch; a reset needs `hold_s` seconds without a `true`."""
        self.hold_s = hold_s
        self.engaged = False
        self.engagements = 0  # times it went from released to engaged
        self._last_true = -math.inf

    def signal(self, value: bool, now_s: float) -> str:
        """One e-stop message at monotonic `now_s`; returns what changed, for the log.

        Returns:
            "engaged" (it latched now), "held" (a true while engaged), "ignored" (a false:
            it stays latched) or "" (a false while released).
        """
        if value:
            self._last_true = now_s
            if self.engaged:
                return "held"
            self.engaged = True
            self.engagements += 1
            return "engaged"
        return "ignored" if self.engaged else ""

    def reset(self, now_s: float) -> tuple[bool, str]:
        """Release at monotonic `now_s` if allowed: (released or not engaged, message)."""
        if not self.engaged:
            return True, "e-stop was not engaged"
        since = now_s - self._last_true
        if since < self.hold_s:
            return False, (
                f"e-stop still asserted: a 'true' arrived {since:.2f} s ago (reset needs "
                f"{self.hold_s:.2f} s without one)"
            )
        self.engaged = False
        return True, "e-stop released"
