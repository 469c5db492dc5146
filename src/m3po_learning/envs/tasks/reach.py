"""End-effector tasks for arms: reach a goal, track a moving goal, hold a point under pushes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np
from transforms3d.quaternions import mat2quat

from m3po_learning.envs.observation import (
    ObsPart,
    frame_position,
    input_minus_frame,
    joint_positions,
    joint_sincos,
    joint_velocities,
    task_input,
)
from m3po_learning.envs.rewards import Tolerance, small_control
from m3po_learning.envs.robot import Robot
from m3po_learning.envs.tasks.base import Task

MODES = ("reach", "track", "trajectory", "hold")


@dataclass(frozen=True)
class Workspace:
    """Where goals are drawn: a shell around `center` (planar: an annulus at its height)."""

    center: tuple[float, float, float]  # shoulder position, m
    r_min: float  # nearest goal distance from the centre, m
    r_max: float  # farthest goal distance from the centre, m
    planar: bool = False  # goals stay in the horizontal plane through the centre
    z_min: float = -math.inf  # lowest goal height (3-D only), m
    max_elevation: float = 1.2  # highest goal elevation angle above the centre (3-D), rad

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn point of the workspace (area/volume uniform), (3,)."""
        c = np.asarray(self.center, np.float64)
        while True:
            if self.planar:
                r = math.sqrt(rng.uniform(self.r_min**2, self.r_max**2))
                a = rng.uniform(-math.pi, math.pi)
                return c + np.array([r * math.cos(a), r * math.sin(a), 0.0])
            r = rng.uniform(self.r_min**3, self.r_max**3) ** (1.0 / 3.0)
            v = rng.normal(size=3)
            v /= np.linalg.norm(v)
            p = c + r * v
            if p[2] >= self.z_min and math.asin(v[2]) <= self.max_elevation:
                return p


@dataclass
class ReachTask(Task):
    """Drive link `frame` to the goal point.

    Modes: reach (fixed goal per episode), track (goal circles at `angular_speed`),
    trajectory (goal runs a figure-eight c + a sin(wt) u + a/2 sin(2wt) w),
    hold (goal = start position of the end effector, random pushes on `push_body`).
    Reward: tolerance(|goal - ee|, bounds (0, goal_radius), margin, gaussian) * small_control,
    in [0, 1]. Never terminates; truncated at the episode length.
    """

    frame: str = ""  # URDF link that must reach the goal
    joints: tuple[str, ...] = ()  # actuated joints observed (sin/cos and velocity)
    linear_joints: tuple[str, ...] = ()  # of `joints`, the prismatic ones (observed raw, m)
    workspace: Workspace | None = None  # where goals (and track circle centres) are drawn
    mode: str = "reach"  # reach | track | hold
    goal_radius: float = 0.02  # distance that earns full reward, m
    margin: float = 0.3  # distance beyond goal_radius at which reward is 0.1, m
    circle_radius: tuple[float, float] = (0.08, 0.15)  # track: circle radius range, m
    angular_speed: tuple[float, float] = (0.5, 1.2)  # track: rad/s range
    push_body: str = ""  # hold: link that gets pushed
    push_force_n: float = 5.0  # hold: largest push, N
    push_every_s: tuple[float, float] = (0.4, 1.2)  # hold: time between push starts, s
    push_duration_s: float = 0.1  # hold: how long one push lasts, s
    _goal: np.ndarray = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"ReachTask: mode={self.mode!r} not in {MODES}")
        self.uses_before_physics = self.mode == "hold"
        self.uses_after_physics = self.mode in ("track", "trajectory")
        self.uses_kinematics = True
        self._near = Tolerance(0.0, self.goal_radius, margin=self.margin)
        self._goal = np.zeros(3)
        self._inputs = {"goal": self._goal}
        self._bound_to = None

    def observation_parts(self) -> tuple[ObsPart, ...]:
        """The reach observation's parts, in order.

        Sin/cos of the revolute joints, raw prismatic positions, all joint velocities, then
        ee_pos, goal and goal_minus_ee, (3,) each.
        """
        angular = tuple(j for j in self.joints if j not in self.linear_joints)
        parts = (joint_sincos(angular),) if angular else ()
        if self.linear_joints:
            parts += (joint_positions(self.linear_joints),)
        return parts + (
            joint_velocities(self.joints),
            frame_position(self.frame, name="ee_pos"),
            task_input("goal"),
            input_minus_frame("goal", self.frame, name="goal_minus_ee"),
        )

    def _bind(self, robot: Robot) -> None:
        self._bound_to = robot
        self._frame_id = robot.frame_body_ids[self.frame]
        self._qidx = np.array([robot.qpos_adr[j] for j in self.joints], np.intp)
        self._push_id = robot.model.body(self.push_body).id if self.push_body else -1

    def reset(self, robot: Robot, rng: np.random.Generator) -> None:
        """Joints uniform in 90% of their range, and the goal by mode.

        reach: a workspace sample; track/trajectory: a random circle or figure-eight (centre,
        radius, speed, phase, plane); hold: the end effector's start position.
        """
        if self._bound_to is not robot:
            self._bind(robot)
        d = robot.data
        lo, hi = np.array([robot.joint_range(j) for j in self.joints]).T
        d.qpos[self._qidx] = rng.uniform(0.9 * lo, 0.9 * hi)
        ws = self.workspace
        if self.mode == "reach":
            self._goal[:] = ws.sample(rng)
        elif self.mode in ("track", "trajectory"):
            self._center = ws.sample(rng)
            self._radius = rng.uniform(*self.circle_radius)
            self._omega = rng.uniform(*self.angular_speed) * rng.choice((-1.0, 1.0))
            self._phase = rng.uniform(-math.pi, math.pi)
            if ws.planar:
                u, w = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
            else:
                n = rng.normal(size=3)
                n /= np.linalg.norm(n)
                u = np.cross(n, [0.0, 0.0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0.0, 0.0])
                u /= np.linalg.norm(u)
                w = np.cross(n, u)
            self._basis = (u, w)
            self._move_goal(0.0)
        else:
            mujoco.mj_kinematics(robot.model, d)
            self._goal[:] = d.xpos[self._frame_id]
            self._rng = rng
            self._next_push = rng.uniform(*self.push_every_s)
            self._push_end = -1.0
        robot.set_goal_marker(self._goal)

    def _move_goal(self, time_s: float) -> None:
        a = self._omega * time_s + self._phase
        u, w = self._basis
        r = self._radius
        if self.mode == "track":
            x, y = r * math.cos(a), r * math.sin(a)
        else:
            x, y = r * math.sin(a), 0.5 * r * math.sin(2.0 * a)
        g, c = self._goal, self._center
        g[0] = c[0] + x * u[0] + y * w[0]
        g[1] = c[1] + x * u[1] + y * w[1]
        g[2] = c[2] + x * u[2] + y * w[2]

    def before_physics(self, robot: Robot, time_s: float) -> None:
        """Hold mode: start a random push on `push_body` when due, end it when it has lasted."""
        if self.mode != "hold":
            return
        xfrc = robot.data.xfrc_applied
        if time_s >= self._next_push:
            rng = self._rng
            v = rng.normal(size=3)
            if self.workspace.planar:
                v[2] = 0.0
            v *= rng.uniform(0.5, 1.0) * self.push_force_n / max(np.linalg.norm(v), 1e-9)
            xfrc[self._push_id, :3] = v
            self._push_end = time_s + self.push_duration_s
            self._next_push = time_s + rng.uniform(*self.push_every_s)
        elif 0.0 <= self._push_end <= time_s:
            xfrc[self._push_id, :3] = 0.0
            self._push_end = -1.0

    def after_physics(self, robot: Robot, time_s: float) -> None:
        """Track and trajectory modes: move the goal (and its marker) to time `time_s`."""
        if self.mode == "track" or self.mode == "trajectory":
            self._move_goal(time_s)
            robot.set_goal_marker(self._goal)

    def reward(self, robot: Robot, action: np.ndarray) -> float:
        """Tolerance of the ee-goal distance times `small_control(mean a^2)`, in [0, 1]."""
        ex, ey, ez = robot.data.xpos[self._frame_id].tolist()
        gx, gy, gz = self._goal.tolist()
        dist = math.sqrt((gx - ex) ** 2 + (gy - ey) ** 2 + (gz - ez) ** 2)
        return self._near(dist) * small_control(float(action @ action) / action.shape[0])

    def inputs(self) -> dict[str, np.ndarray]:
        """{"goal": xyz (3,)}, the live goal array (not a copy)."""
        return self._inputs


@dataclass(frozen=True)
class PoseInput:
    """A pose goal published as one geometry_msgs/PoseStamped, observed as three points.

    The task's inputs `point` (the position) and, for each (input, offset) of `axes`, the
    point `offset` (3,) away in the goal's orientation; the controller turns a PoseStamped
    on topic `topic` into the same points (`points`), so env and robot observe alike.
    """

    topic: str  # PoseStamped topic (relative), e.g. "goal_pose"
    point: str  # input name of the position, e.g. "goal"
    axes: tuple[tuple[str, tuple[float, float, float]], ...]  # (input name, offset in goal)

    def points(self, xyz: np.ndarray, rotation: np.ndarray) -> dict[str, np.ndarray]:
        """{input: (3,)} for a goal at `xyz` (3,) with rotation matrix `rotation` (3, 3)."""
        xyz = np.asarray(xyz, np.float64)
        out = {self.point: xyz.copy()}
        for name, offset in self.axes:
            out[name] = xyz + rotation @ np.asarray(offset, np.float64)
        return out


@dataclass
class ReachPoseTask(ReachTask):
    """Drive link `frame` to a goal pose: position and orientation.

    The goal is the tool pose of a random joint configuration within 90% of the ranges (so
    every goal is reachable). Orientation is observed and rewarded through two points fixed
    to the tool (`axis_frames`, URDF links along its x and z axes): the goal puts matching
    points (`pose_input.points`). Reward: tolerance(position error) x tolerance(orientation
    error angle, bounds (0, angle_tol)) x small_control, in [0, 1].
    """

    axis_frames: tuple[str, str] = ("", "")  # URDF links on the tool's x and z axes
    axis_m: float = 0.1  # their distance from `frame`, m
    angle_tol: float = 0.1  # orientation error that earns full reward, rad
    angle_margin: float = 1.0  # beyond angle_tol, the error at which the factor is 0.1, rad

    def __post_init__(self) -> None:
        super().__post_init__()
        self.pose_input = PoseInput(
            "goal_pose",
            "goal",
            (("goal_x", (self.axis_m, 0.0, 0.0)), ("goal_z", (0.0, 0.0, self.axis_m))),
        )
        self._turned = Tolerance(0.0, self.angle_tol, margin=self.angle_margin)
        self._goal_rot = np.eye(3)
        self._inputs = {"goal": self._goal, "goal_x": np.zeros(3), "goal_z": np.zeros(3)}

    def observation_parts(self) -> tuple[ObsPart, ...]:
        """The reach parts, then goal_x - tool_x and goal_z - tool_z, (3,) each."""
        (name_x, _), (name_z, _) = self.pose_input.axes
        return super().observation_parts() + (
            input_minus_frame(name_x, self.axis_frames[0], name="goal_x_minus_tool_x"),
            input_minus_frame(name_z, self.axis_frames[1], name="goal_z_minus_tool_z"),
        )

    def reset(self, robot: Robot, rng: np.random.Generator) -> None:
        """Joints uniform in 90% of their ranges; the goal: the tool pose of another draw."""
        if self._bound_to is not robot:
            self._bind(robot)
        d = robot.data
        lo, hi = np.array([robot.joint_range(j) for j in self.joints]).T
        d.qpos[self._qidx] = rng.uniform(0.9 * lo, 0.9 * hi)
        mujoco.mj_kinematics(robot.model, d)
        self._set_goal(d.xpos[self._frame_id], d.xmat[self._frame_id].reshape(3, 3))
        d.qpos[self._qidx] = rng.uniform(0.9 * lo, 0.9 * hi)
        robot.set_goal_marker(self._goal)

    def _set_goal(self, xyz: np.ndarray, rotation: np.ndarray) -> None:
        self._goal_rot = np.array(rotation, np.float64)
        for name, value in self.pose_input.points(xyz, self._goal_rot).items():
            self._inputs[name][:] = value

    def goal_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), unit quaternion wxyz (4,)) of the goal, for a PoseStamped."""
        quat = mat2quat(self._goal_rot)
        return self._goal.copy(), quat if quat[0] >= 0 else -quat

    def orientation_error(self, robot: Robot) -> float:
        """Angle between the tool's and the goal's orientation, rad."""
        rot = robot.data.xmat[self._frame_id].reshape(3, 3)
        cos = (float(np.trace(self._goal_rot.T @ rot)) - 1.0) / 2.0
        return math.acos(min(1.0, max(-1.0, cos)))

    def reward(self, robot: Robot, action: np.ndarray) -> float:
        """Position tolerance x orientation tolerance x small_control, in [0, 1]."""
        return super().reward(robot, action) * self._turned(self.orientation_error(robot))
