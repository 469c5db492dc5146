"""Bring your own robot: reach, track, swing-up or balance tasks for any torque-driven URDF.

Joint names and limits come from the URDF: every revolute/continuous/prismatic joint with a
finite `<limit effort>` > 0 is actuated (action order = file order); others are passive.
The end effector is the leaf link farthest down the chain unless named. Goals are drawn
from the forward kinematics of random joint configurations, so every goal is reachable.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3po_learning.envs.observation import Kinematics
from m3po_learning.envs.robot import RobotDescription, build_model
from m3po_learning.envs.robots import ROBOTS
from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.reach import ReachPoseTask, ReachTask
from m3po_learning.envs.tasks.swing import ChainSwingTask
from m3po_learning.envs.urdf_info import UrdfError, leaf_links, read_urdf_joints

BYO_TASKS = ("reach", "track", "hold", "pose", "swingup", "balance")
POSE_MIN_DOF = 6  # a pose (position and orientation) needs six actuated joints
POSE_AXIS_M = 0.1  # pose: the virtual frames on the end effector's x and z axes, m from it
PUSH_FRACTION = 0.25  # hold: the largest push, as a fraction of what the weakest joint resists
SWING_TASKS = ("swingup", "balance")  # gravity must act: trained without compensation


def default_gravity_compensation(task: str) -> bool:
    """What a task kind simulates unless told: compensated arms reach; swings need gravity."""
    return task not in SWING_TASKS


@dataclass(frozen=True)
class ChainGeometry:
    """Where a revolute chain's tip can be, measured from the URDF's kinematics."""

    poles: tuple[str, ...]  # the chain's joints, root first
    reach: float  # highest tip height above the first pivot, m
    up: tuple[float, ...]  # joint angles with the tip highest
    down: tuple[float, ...]  # joint angles with the tip lowest


def chain_geometry(urdf: Path, tip: str, joints: list, samples: int = 4096) -> ChainGeometry:
    """Up and down of the chain from the root to `tip`, against gravity (-z).

    Joint configurations are drawn within the limits (continuous joints: a full turn); the
    highest and lowest tip heights above the first joint's pivot give `up`, `down` and
    `reach`. Raises UrdfError for a chain that is not all revolute or whose tip's height
    does not change (axes parallel to gravity).
    """
    kin = Kinematics(urdf, (tip,))
    poles = kin.chain_joints(tip)
    by_name = {j.name: j for j in joints}
    if not poles:
        raise UrdfError(f"URDF {str(urdf)!r}: link {tip!r} has no joint above it to swing")
    linear = [p for p in poles if by_name[p].type == "prismatic"]
    if linear:
        raise UrdfError(
            f"URDF {str(urdf)!r}: swingup/balance take a chain of revolute joints; "
            f"{linear} are prismatic"
        )
    lo = np.array(
        [by_name[p].lower if math.isfinite(by_name[p].lower) else -math.pi for p in poles]
    )
    hi = np.array(
        [by_name[p].upper if math.isfinite(by_name[p].upper) else math.pi for p in poles]
    )
    rng = np.random.default_rng(0)
    qidx = kin.qpos_index(poles)
    pivot = kin.model.joint(poles[0]).id
    configs = rng.uniform(lo, hi, (samples, len(poles)))
    heights = np.empty(samples)
    for i, q in enumerate(configs):
        tip_z = kin.frames(qidx, q)[0, 2]
        heights[i] = tip_z - kin.data.xanchor[pivot, 2]
    if heights.max() - heights.min() < 1e-3:
        raise UrdfError(
            f"URDF {str(urdf)!r}: the height of {tip!r} does not change with joints {poles} "
            "(axes parallel to gravity?): nothing to swing up"
        )
    up, down = configs[heights.argmax()], configs[heights.argmin()]
    reach = float(max(heights.max(), 1e-3))
    return ChainGeometry(tuple(poles), reach, tuple(map(float, up)), tuple(map(float, down)))


class ReachableGoals:
    """Goal sampler: the end-effector position at uniformly random joint positions."""

    planar = False

    def __init__(self, urdf: Path, frame: str, joints: list, margin_frac: float = 0.9) -> None:
        self._kin = Kinematics(urdf, (frame,))
        names = [j.name for j in joints]
        self._qidx = self._kin.qpos_index(names)
        lo = np.array([j.lower if math.isfinite(j.lower) else -math.pi for j in joints])
        hi = np.array([j.upper if math.isfinite(j.upper) else math.pi for j in joints])
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * margin_frac
        self._lo, self._hi = mid - half, mid + half

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A goal (3,): the frame's position at joint positions drawn uniformly within limits."""
        q = rng.uniform(self._lo, self._hi)
        return self._kin.frames(self._qidx, q)[0].copy()

    def extent(self, n: int = 256, seed: int = 0) -> tuple[np.ndarray, float]:
        """(centre (3,), radius) of the reachable cloud, from `n` random configurations."""
        rng = np.random.default_rng(seed)
        pts = np.stack([self.sample(rng) for _ in range(n)])
        centre = pts.mean(axis=0)
        return centre, float(np.linalg.norm(pts - centre, axis=1).max())


@dataclass(frozen=True)
class RobotTaskInfo:
    """What `robot_task` derived from the URDF."""

    name: str  # registered task name, "<robot>/<task>"
    robot: RobotDescription  # the generated robot description
    end_effector: str  # link whose position is driven to the goal


def _robot_name(path: Path) -> str:
    try:
        name = ET.parse(path).getroot().get("name") or path.stem
    except ET.ParseError as exc:
        raise UrdfError(f"URDF file {str(path)!r} is not valid XML: {exc}") from exc
    return name.replace("/", "_")


def _pick_end_effector(joints, actuated: set[str]) -> str:
    """The leaf link with the most actuated joints between it and the root."""
    parent_joint = {j.child: j for j in joints}

    def depth(link: str) -> int:
        n = 0
        while link in parent_joint:
            j = parent_joint[link]
            n += j.name in actuated
            link = j.parent
        return n

    leaves = leaf_links(joints)
    return max(leaves, key=depth)


def describe_robot(
    urdf_path: str | Path, end_effector: str | None = None, gravity_compensation: bool = True
) -> tuple[RobotDescription, list]:
    """A RobotDescription for a user's URDF, with clear errors for unusable files.

    `gravity_compensation`: the simulation cancels gravity on every body, as a torque-mode
    arm's driver does (or the controller, see docs/ros.md); False leaves gravity acting.
    """
    path = Path(urdf_path).expanduser().resolve()
    if not path.is_file():
        raise UrdfError(f"URDF file {str(path)!r} does not exist")
    joints = read_urdf_joints(path)
    actuated = [j for j in joints if j.movable and 0 < j.effort < math.inf]
    if not actuated:
        described = [(j.name, j.type, j.effort) for j in joints]
        raise UrdfError(
            f"URDF {str(path)!r} has no actuated joints: a revolute, continuous or prismatic "
            f"joint needs <limit effort=...> > 0 (joints: name, type, effort = {described})"
        )
    names = {j.name for j in actuated}
    ee = end_effector or _pick_end_effector(joints, names)
    links = {j.child for j in joints} | {j.parent for j in joints}
    if ee not in links:
        raise UrdfError(
            f"URDF {str(path)!r}: end-effector link {ee!r} not found; links: {sorted(links)}"
        )
    desc = RobotDescription(
        name=_robot_name(path),
        urdf=str(path),
        actuated_joints=tuple(j.name for j in actuated),
        frames=(ee,),
        timestep_s=0.002,
        gravity_compensation=gravity_compensation,
        armature=0.01,
        goal_marker=True,
    )
    build_model(desc)  # fails here, with the file named, if MuJoCo cannot load it
    return desc, actuated


def robot_task(
    urdf_path: str | Path,
    task: str = "reach",
    end_effector: str | None = None,
    episode_length: int | None = None,
    control_dt: float = 0.02,
    gravity_compensation: bool | None = None,
) -> tuple[str, Callable[[], Task]]:
    """A task for the robot in `urdf_path`: its name and a task factory.

    reach / track: the end effector to a (moving) goal, 200 steps; pose: to a goal position
    and orientation (>= 6 actuated joints; orientation seen through two virtual frames on
    the end effector's x and z axes), 200 steps; hold: keep it where it
    started against random pushes on it (up to `PUSH_FRACTION` of what the weakest joint
    resists at the workspace radius), 200 steps. swingup / balance: the
    chain from the root to the end effector (the tip) upright, from hanging (250 steps) or
    from near upright until it falls (200 steps); gravity acts (no compensation).
    `gravity_compensation` None: the task kind's default (on for reach/track).

    The name is "<robot name from the URDF>/<task>" ("<name>_byo/<task>" when the name is a
    built-in robot's). Registering it is the task registry's job
    (`m3po_learning.envs.registry.make_robot_task`).

    Raises:
        UrdfError: the file is missing, not a URDF, cannot be loaded by MuJoCo, or has no
            actuated joints.
        ValueError: `task` is not one the robot supports (BYO_TASKS), or a swing task with
            gravity compensated.
    """
    if task not in BYO_TASKS:
        raise ValueError(f"task={task!r}: a URDF robot supports {BYO_TASKS}")
    if gravity_compensation is None:
        gravity_compensation = default_gravity_compensation(task)
    if task in SWING_TASKS and gravity_compensation:
        raise ValueError(
            f"task={task!r} with gravity compensation: with gravity cancelled there is nothing "
            "to swing up or balance against (use gravity_compensation=off)"
        )
    desc, actuated = describe_robot(urdf_path, end_effector, gravity_compensation)
    ee = desc.frames[0]
    if task == "pose" and len(actuated) < POSE_MIN_DOF:
        raise ValueError(
            f"task='pose' needs at least {POSE_MIN_DOF} actuated joints for position and "
            f"orientation; {desc.name} has {len(actuated)} ({[j.name for j in actuated]}): "
            "use reach"
        )
    if task in SWING_TASKS:
        return _swing_task(desc, actuated, task, episode_length, control_dt)
    episode_length = episode_length or 200
    goals = ReachableGoals(Path(desc.urdf), ee, actuated)
    centre, radius = goals.extent()
    radius = max(radius, 1e-3)
    # hold: pushes on the end effector up to a quarter of the force the weakest joint can
    # resist at the workspace's radius (the arm can always win, but has to work for it)
    push_n = PUSH_FRACTION * min(j.effort for j in actuated) / max(radius, 0.05)
    desc = RobotDescription(
        **{
            **desc.__dict__,
            "camera": (tuple(float(c) for c in centre), 3.0 * radius + 0.5, 135.0, -25.0),
        }
    )

    if task == "pose":
        return _pose_task(desc, actuated, episode_length, control_dt, radius)

    def factory() -> Task:
        return ReachTask(
            robot=desc,
            episode_length=episode_length,
            control_dt=control_dt,
            description=f"{task} with link {ee!r} of {desc.name}",
            frame=ee,
            joints=desc.actuated_joints,
            linear_joints=tuple(j.name for j in actuated if j.type == "prismatic"),
            workspace=ReachableGoals(Path(desc.urdf), ee, actuated),
            mode=task,
            goal_radius=0.04 * radius,
            margin=0.5 * radius,
            circle_radius=(0.05 * radius, 0.15 * radius),
            push_body=ee if task == "hold" else "",
            push_force_n=push_n,
        )

    return f"{_task_robot_name(desc)}/{task}", factory


def _pose_task(
    desc: RobotDescription, actuated: list, episode_length: int, control_dt: float, radius: float
) -> tuple[str, Callable[[], Task]]:
    """Position and orientation of the end effector, seen through two virtual frames on it."""
    ee = desc.frames[0]
    axis_x, axis_z = f"{ee}_m3po_x", f"{ee}_m3po_z"
    desc = RobotDescription(
        **{
            **desc.__dict__,
            "frames": (ee, axis_x, axis_z),
            "virtual_frames": (
                (axis_x, ee, (POSE_AXIS_M, 0.0, 0.0)),
                (axis_z, ee, (0.0, 0.0, POSE_AXIS_M)),
            ),
        }
    )

    def factory() -> Task:
        return ReachPoseTask(
            robot=desc,
            episode_length=episode_length,
            control_dt=control_dt,
            description=f"move link {ee!r} of {desc.name} to a random pose",
            frame=ee,
            joints=desc.actuated_joints,
            linear_joints=tuple(j.name for j in actuated if j.type == "prismatic"),
            workspace=ReachableGoals(Path(desc.urdf), ee, actuated),
            mode="reach",
            goal_radius=0.04 * radius,
            margin=0.5 * radius,
            axis_frames=(axis_x, axis_z),
            axis_m=POSE_AXIS_M,
        )

    return f"{_task_robot_name(desc)}/pose", factory


def _task_robot_name(desc: RobotDescription) -> str:
    return desc.name if desc.name not in ROBOTS else f"{desc.name}_byo"


def _swing_task(
    desc: RobotDescription, actuated: list, task: str, episode_length, control_dt: float
) -> tuple[str, Callable[[], Task]]:
    tip = desc.frames[0]
    path = Path(desc.urdf)
    geo = chain_geometry(path, tip, read_urdf_joints(path))
    balance = task == "balance"
    reach = geo.reach
    desc = RobotDescription(
        **{**desc.__dict__, "camera": ((0.0, 0.0, 0.0), 3.0 * reach + 0.5, 90.0, -10.0)}
    )
    steps = episode_length or (200 if balance else 250)

    def factory() -> Task:
        return ChainSwingTask(
            robot=desc,
            episode_length=steps,
            control_dt=control_dt,
            description=(
                f"keep {desc.name}'s {tip!r} upright" if balance else f"swing {desc.name} up"
            ),
            poles=geo.poles,
            tip=tip,
            reach=reach,
            up=geo.up,
            down=geo.down,
            balance=balance,
        )

    return f"{_task_robot_name(desc)}/{task}", factory
