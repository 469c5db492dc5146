"""Under-actuated swing-up and balance tasks (pendulum, cart-pole, acrobot)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from m3po_learning.envs.observation import ObsPart, joint_positions, joint_sincos, joint_velocities
from m3po_learning.envs.rewards import Tolerance, small_control
from m3po_learning.envs.robot import Robot
from m3po_learning.envs.tasks.base import Task

_SMALL_VELOCITY = Tolerance(0.0, 0.0, margin=5.0)  # rad/s, on the pole's angular velocity
_CENTERED = Tolerance(0.0, 0.0, margin=2.0)  # m, on the cart position


@dataclass
class SwingTask(Task):
    """Bring a chain of poles upright (swing-up) or keep it there (balance).

    Reward: upright * centered * small_control * small_velocity, in [0, 1]:
      upright = (1 + mean over poles of cos(pole's absolute angle from vertical)) / 2,
      centered = (1 + tolerance(cart position, margin 2 m)) / 2 (1 without a cart),
      small_control = (4 + tolerance(mean a^2, quadratic)) / 5,
      small_velocity = (1 + tolerance(first pole velocity, margin 5 rad/s)) / 2.
    Balance terminates when that mean cosine drops below cos(`fall_angle`).
    """

    poles: tuple[str, ...] = ()  # revolute joints of the chain, root first
    upright_offset: float = 0.0  # angle of the first pole that points it straight up
    cart: str = ""  # prismatic joint of a cart, if any
    balance: bool = False  # start near upright and terminate on falling
    start_down: bool = False  # swing-up: start hanging (+-0.2 rad) instead of anywhere
    start_spread: float = 0.2  # balance: initial angles within +-this of upright, rad
    fall_angle: float = 0.8  # balance: terminate beyond this tilt from vertical, rad
    _qidx: np.ndarray = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.can_terminate = self.balance

    def observation_parts(self) -> tuple[ObsPart, ...]:
        """Parts: cart_pos (1,) with a cart, pole_sincos (2 P,), then joint_vel (cart, poles)."""
        parts = []
        if self.cart:
            parts.append(joint_positions((self.cart,), name="cart_pos"))
        parts.append(joint_sincos(self.poles, name="pole_sincos"))
        joints = ((self.cart,) if self.cart else ()) + self.poles
        parts.append(joint_velocities(joints, name="joint_vel"))
        return tuple(parts)

    def _bind(self, robot: Robot) -> None:
        self._qidx = np.array([robot.qpos_adr[p] for p in self.poles], np.intp)
        self._qidx_list = [int(i) for i in self._qidx]
        self._pole0_dof = robot.dof_adr[self.poles[0]]
        self._cart_q = robot.qpos_adr[self.cart] if self.cart else -1
        self._bound_to = robot

    def reset(self, robot: Robot, rng: np.random.Generator) -> None:
        """Poles near upright (balance), hanging (start_down) or anywhere; cart near centre.

        The cart starts within 10% (balance) or 50% of its range, at rest.
        """
        if getattr(self, "_bound_to", None) is not robot:
            self._bind(robot)
        d = robot.data
        n = len(self.poles)
        if self.balance:
            angles = rng.uniform(-self.start_spread, self.start_spread, n)
            angles[0] += self.upright_offset
            vel = rng.uniform(-0.1, 0.1, n)
        elif self.start_down:
            angles = rng.uniform(-0.2, 0.2, n)
            angles[0] += self.upright_offset + math.pi
            vel = rng.uniform(-0.1, 0.1, n)
        else:
            angles = rng.uniform(-math.pi, math.pi, n)
            vel = rng.uniform(-1.0, 1.0, n)
        d.qpos[self._qidx] = angles
        d.qvel[[robot.dof_adr[p] for p in self.poles]] = vel
        if self.cart:
            lo, hi = robot.joint_range(self.cart)
            spread = 0.1 if self.balance else 0.5
            d.qpos[self._cart_q] = rng.uniform(spread * lo, spread * hi)
            d.qvel[robot.dof_adr[self.cart]] = 0.0

    def _upright(self, qpos: np.ndarray) -> float:
        """Mean over poles of cos(absolute angle from vertical-up); 1 when all are upright."""
        angle = -self.upright_offset
        acc = 0.0
        for i in self._qidx_list:
            angle += qpos.item(i)
            acc += math.cos(angle)
        return acc / len(self._qidx_list)

    def reward(self, robot: Robot, action: np.ndarray) -> float:
        """Product of upright, cart-centred, small-control and small-velocity terms, in [0, 1]."""
        d = robot.data
        upright = (1.0 + self._upright(d.qpos)) * 0.5
        centered = (1.0 + _CENTERED(d.qpos.item(self._cart_q))) * 0.5 if self.cart else 1.0
        control = small_control(float(action @ action) / action.shape[0])
        velocity = (1.0 + _SMALL_VELOCITY(abs(d.qvel.item(self._pole0_dof)))) * 0.5
        return upright * centered * control * velocity

    def terminated(self, robot: Robot) -> bool:
        """Balance only: True once the mean pole tilt passes `fall_angle` (by its cosine)."""
        if not self.balance:
            return False
        return self._upright(robot.data.qpos) < math.cos(self.fall_angle)


@dataclass
class ChainSwingTask(Task):
    """Swing a user's revolute chain up, or balance it up: uprightness from the tip's height.

    For a URDF robot the "up" configuration is not known in joint angles: it is where gravity
    puts the tip highest. upright = (tip height - first pivot height) / `reach`, in [-1, 1]
    (for a single pendulum, the cosine of its angle from vertical-up), with `reach`, `up` and
    `down` measured from the URDF's kinematics (`byo.chain_geometry`). Reward as `SwingTask`
    without a cart: (1 + upright) / 2 * small_control * small_velocity, in [0, 1].
    """

    poles: tuple[str, ...] = ()  # revolute joints from the root to the tip
    tip: str = ""  # link whose height measures uprightness
    reach: float = 1.0  # tip height above the first pivot when fully up, m
    up: tuple[float, ...] = ()  # joint angles (poles) with the tip highest
    down: tuple[float, ...] = ()  # joint angles with the tip lowest
    balance: bool = False  # start near `up` and terminate on falling
    start_spread: float = 0.2  # initial angles within +-this of up (balance) or down, rad
    fall_angle: float = 0.8  # balance: terminate once upright < cos(this)

    uses_kinematics = True

    def __post_init__(self) -> None:
        self.can_terminate = self.balance

    def observation_parts(self) -> tuple[ObsPart, ...]:
        """Parts: pole_sincos (2 P,), joint_vel (P,)."""
        return (
            joint_sincos(self.poles, name="pole_sincos"),
            joint_velocities(self.poles, name="joint_vel"),
        )

    def _bind(self, robot: Robot) -> None:
        m = robot.model
        self._qidx = np.array([robot.qpos_adr[p] for p in self.poles], np.intp)
        self._didx = np.array([robot.dof_adr[p] for p in self.poles], np.intp)
        self._pole0_dof = int(self._didx[0])
        self._tip = int(m.body(self.tip).id)
        self._pivot = int(m.joint(self.poles[0]).id)
        self._bound_to = robot

    def reset(self, robot: Robot, rng: np.random.Generator) -> None:
        """Near `up` (balance) or hanging near `down` (swing-up), almost at rest."""
        if getattr(self, "_bound_to", None) is not robot:
            self._bind(robot)
        start = np.asarray(self.up if self.balance else self.down, np.float64)
        robot.data.qpos[self._qidx] = start + rng.uniform(
            -self.start_spread, self.start_spread, len(self.poles)
        )
        robot.data.qvel[self._didx] = rng.uniform(-0.1, 0.1, len(self.poles))

    def upright(self, robot: Robot) -> float:
        """Tip height above the first pivot over `reach`: 1 up, -1 hanging straight down."""
        d = robot.data
        height = d.xpos[self._tip, 2] - d.xanchor[self._pivot, 2]
        return min(1.0, max(-1.0, float(height) / self.reach))

    def reward(self, robot: Robot, action: np.ndarray) -> float:
        """Product of upright, small-control and small-velocity terms, in [0, 1]."""
        upright = (1.0 + self.upright(robot)) * 0.5
        control = small_control(float(action @ action) / action.shape[0])
        velocity = (1.0 + _SMALL_VELOCITY(abs(robot.data.qvel.item(self._pole0_dof)))) * 0.5
        return upright * control * velocity

    def terminated(self, robot: Robot) -> bool:
        """Balance only: True once upright drops below cos(`fall_angle`)."""
        return self.balance and self.upright(robot) < math.cos(self.fall_angle)
