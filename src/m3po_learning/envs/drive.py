"""Drives: what the policy's action commands at each actuated joint (effort, position, velocity).

A robot driven through ros2_control takes one command interface per joint: `effort`
(JointGroupEffortController), `position` (JointGroupPositionController or a
JointTrajectoryController) or `velocity` (JointGroupVelocityController). A policy trained on
torques cannot simply be handed to a position interface: turning its effort intent into a
setpoint needs the robot's servo gains, and the servo's own loop then acts on every
sub-step the policy never saw. So the drive is part of the task: `arm2/reach@position`
trains, in simulation, against a position servo of known gains that saturates at the
URDF effort limit, and the controller publishes the setpoint that policy chose.

Actions stay in [-1, 1] per joint:
- effort: effort = a x effort limit (the default; the task name has no suffix);
- position: target = q + a x step, with step = velocity limit x control period, clipped to
  the joint's range, so a held action moves the setpoint at most at the URDF velocity limit
  and a zero action holds the current position;
- velocity: target = a x velocity limit (a zero action stops).
Where the URDF gives no velocity limit, DEFAULT_SPEED stands in.
"""

from __future__ import annotations

import numpy as np

DRIVES = ("effort", "position", "velocity")
SEPARATOR = "@"  # "arm2/reach@position"
DEFAULT_SPEED = 3.0  # rad/s or m/s, where the URDF gives no velocity limit
# The simulated servo's bandwidth: critically damped at this natural frequency, at each
# joint's inertia in the reference pose; its force is clamped to the effort limit.
SERVO_HZ = 10.0
UNITS = {"effort": "N m | N", "position": "rad | m", "velocity": "rad/s | m/s"}


class DriveError(ValueError):
    """An unknown drive, or a drive a task or command interface cannot use."""


def split_drive(name: str) -> tuple[str, str]:
    """Task name -> (base task, drive): "arm2/reach@position" -> ("arm2/reach", "position").

    A name without a suffix is effort-driven.
    """
    base, sep, drive = name.partition(SEPARATOR)
    if not sep:
        return name, "effort"
    if drive not in DRIVES or drive == "effort":
        raise DriveError(
            f"task {name!r}: unknown drive {drive!r} after {SEPARATOR!r}; drives: "
            f"{', '.join(repr(d) for d in DRIVES[1:])} (effort is the name without a suffix)"
        )
    return base, drive


def speed_limits(vel_max: np.ndarray) -> np.ndarray:
    """(J,) velocity limits with DEFAULT_SPEED where the URDF gives none."""
    v = np.asarray(vel_max, np.float64)
    return np.where(np.isfinite(v) & (v > 0), v, DEFAULT_SPEED)


def action_scale(drive: str, effort_max, vel_max, control_dt: float) -> np.ndarray:
    """(J,) what an action of 1 means: effort limit, position step or velocity."""
    if drive == "effort":
        return np.asarray(effort_max, np.float64)
    if drive == "position":
        return speed_limits(vel_max) * control_dt
    if drive == "velocity":
        return speed_limits(vel_max)
    raise DriveError(f"unknown drive {drive!r}; drives: {', '.join(DRIVES)}")


def servo_gains(drive: str, inertia: np.ndarray, servo_hz: float = SERVO_HZ):
    """(kp, kd) per joint of the simulated servo (N m/rad, N m s/rad; N/m, N s/m).

    Position: a critically damped second-order loop of natural frequency `servo_hz` at the
    joint's inertia `inertia` (mass-matrix diagonal plus armature in the reference pose):
    kp = I w^2, kd = 2 I w. Velocity: a first-order loop of the same bandwidth, kd = I w
    (the robot adds the joint's viscous damping to the setpoint's gain, so it settles on it).
    At 10 Hz a step of one control period's travel settles within the period; the force
    range clamps the effort to the URDF limit, so large errors saturate instead.
    """
    inertia = np.maximum(np.asarray(inertia, np.float64), 1e-6)
    w = 2.0 * np.pi * servo_hz
    if drive == "position":
        return inertia * w * w, 2.0 * inertia * w
    if drive == "velocity":
        return np.zeros_like(inertia), inertia * w
    raise DriveError(f"drive {drive!r} has no servo")


def describe(drive: str) -> str:
    """One line for logs: what the command of `drive` is."""
    what = {
        "effort": "effort (a x effort limit)",
        "position": "position setpoint (q + a x velocity limit x period)",
        "velocity": "velocity setpoint (a x velocity limit)",
    }
    return what[drive] + f", {UNITS[drive]}"
