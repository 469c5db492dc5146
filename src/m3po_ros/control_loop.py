"""The controller's core, without ROS: observation, budgeted act, fallback, safety, timing.

`ControlLoop.tick` is called by the node's fixed-rate timer with the latest sensor readings;
it never blocks on anything but the model call, whose planner stops before an iteration it
could not finish inside the budget (policy action as fallback).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # the spec only; importing m3po_learning.envs loads MuJoCo
    from m3po_learning.envs.action import ActionSpec
    from m3po_ros.params import ControllerParams

from m3po_ros.safety import (
    SafetyConfig,
    SafetyLayer,
    SafetyState,
    SetpointSafetyLayer,
    make_safety_layer,
)
from m3po_ros.tick_stats import TickStats

log = logging.getLogger(__name__)


WARMUP_PLANS = 8  # unbudgeted planning calls before a model takes over
MISSING_INPUT = "waiting for task input"  # how a tick error without a goal (yet) begins


class ControlError(RuntimeError):
    """A checkpoint or task the control loop cannot use; the message says why."""


@dataclass
class SensorSnapshot:
    """Latest readings, as the node's subscriptions stored them."""

    positions: dict[str, float] = field(default_factory=dict)  # joint name -> rad | m
    velocities: dict[str, float] = field(default_factory=dict)  # joint name -> rad/s | m/s
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # task input name -> array
    joint_stamp_s: float | None = None  # monotonic arrival time of the joint readings


class TickResult(NamedTuple):
    """What one control tick produced, for the node to publish and log."""

    command: np.ndarray | None  # (J,) the drive's command, finite and within limits; None:
    # publish nothing (a position drive before it has ever seen the joints)
    state: SafetyState  # what the safety layer did
    obs: np.ndarray | None  # (obs_dim,) observation built this tick (None if it could not be)
    planned: bool  # the planner's action was used
    iterations: int  # planner iterations completed
    act_ms: float  # time in agent.act
    tick_ms: float  # whole tick, observation to safe command
    error: str  # why the model was not used this tick ("" if it was)


@dataclass
class TaskContext:
    """What one task needs at control time, built once (MuJoCo kinematics, limits)."""

    task: str
    obs_spec: object  # m3po_learning.envs.ObservationSpec shared with the env
    joint_names: tuple[str, ...]  # actuated joints, command order
    action_spec: ActionSpec  # action <-> the drive's command, the limits safety enforces
    safety: SafetyLayer | SetpointSafetyLayer
    urdf: str = ""  # the robot's URDF (its root link is the base frame); "" for dm_control
    pose_input: object = None  # tasks.reach.PoseInput of a pose task (a PoseStamped goal)
    gravity_mode: str = "off"  # who cancels gravity: "controller", "driver" or "off"
    gravity: object = None  # envs.gravity.GravityTorques when this controller adds them
    gravity_error: str = ""  # why this task cannot run with the gravity_compensation asked


def observation_mismatch(stored, current) -> str:
    """Why a checkpoint's EnvSpec cannot drive today's env of the same task ("" if it can).

    Compares the actuated joints (command order) and the observation part by part (each
    part's kind, joints, inputs, frames and size) where the checkpoint recorded them, so a
    reordered observation of the same length is refused; older checkpoints that stored only
    (name, size) per part or only obs_dim are compared on what they have.
    """
    if tuple(stored.joint_names) != tuple(current.joint_names):
        return (
            f"the checkpoint drives joints {list(stored.joint_names)}, the env "
            f"{list(current.joint_names)}"
        )
    for field_name in ("obs_layout", "obs_parts"):
        ours, theirs = getattr(stored, field_name), getattr(current, field_name)
        if ours:
            if tuple(ours) != tuple(theirs):
                return (
                    f"the checkpoint's observation is {list(ours)}, the env builds {list(theirs)}"
                )
            return ""
    if stored.obs_dim != current.obs_dim:
        return f"the checkpoint's obs_dim is {stored.obs_dim}, the env's {current.obs_dim}"
    return ""


def gravity_for(robot, drive: str, requested: str, task: str):
    """(mode, GravityTorques or None) for a task of `robot`; ControlError on a mismatch.

    An effort-drive policy trained with gravity compensated needs it on the robot: added
    here ("controller", the default) or by the robot's driver ("driver"). A position or
    velocity drive's servo deals with gravity itself.
    """
    from m3po_learning.envs.gravity import GravityModeError, GravityTorques, resolve_gravity_mode

    trained = bool(getattr(robot, "gravity_compensation", False))
    if drive != "effort":
        if requested == "controller":
            raise ControlError(
                f"task {task!r}: gravity_compensation='controller' adds torques to an effort "
                f"command; this task commands {drive} (its servo holds against gravity)"
            )
        return ("driver" if trained else "off"), None
    try:
        mode = resolve_gravity_mode(requested, trained, task)
    except GravityModeError as exc:
        raise ControlError(str(exc)) from exc
    return mode, (GravityTorques(robot) if mode == "controller" else None)


def build_contexts(
    agent,
    safety_config: SafetyConfig,
    reuse: Mapping[str, TaskContext] | None = None,
    gravity_compensation: str = "auto",
) -> dict[str, TaskContext]:
    """A TaskContext for every task of `agent`; robots with the same joints share a safety layer.

    Contexts in `reuse` (same task, same joints) are kept so a hot-swap keeps the rate-limit
    state. Raises ControlError when a task is unknown here, its joints do not match, or its
    training's gravity compensation contradicts `gravity_compensation` (see `gravity_for`).
    """
    from m3po_learning.envs import TaskSetError, make_env

    out: dict[str, TaskContext] = {}
    safety_by_joints = {c.joint_names: c.safety for c in (reuse or {}).values()}
    for spec in agent.specs:
        old = (reuse or {}).get(spec.task)
        if old is not None and old.joint_names == tuple(spec.joint_names):
            out[spec.task] = old
            continue
        try:
            env = make_env(spec.task)
        except TaskSetError as exc:
            raise ControlError(f"checkpoint task {spec.task!r} is not available: {exc}") from exc
        mismatch = observation_mismatch(spec, env.spec)
        if mismatch:
            raise ControlError(f"checkpoint task {spec.task!r}: {mismatch}")
        action_spec = env.action_spec
        joints = action_spec.names
        safety = safety_by_joints.get((joints, action_spec.drive))
        if safety is None:
            safety = make_safety_layer(action_spec, safety_config)
            safety_by_joints[(joints, action_spec.drive)] = safety
        robot = getattr(getattr(env, "task", None), "robot", None)
        urdf = str(robot.urdf_file()) if robot is not None else ""
        mode, gravity, gravity_error = "off", None, ""
        if robot is not None:
            # Refused only when the task is run: a checkpoint of several robots may hold
            # some trained with compensation and some without.
            try:
                mode, gravity = gravity_for(
                    robot, action_spec.drive, gravity_compensation, spec.task
                )
            except ControlError as exc:
                gravity_error = str(exc)
        out[spec.task] = TaskContext(
            spec.task,
            env.observation_spec,
            joints,
            action_spec,
            safety,
            urdf,
            getattr(getattr(env, "task", None), "pose_input", None),
            mode,
            gravity,
            gravity_error,
        )
        env.close()
    return out


class ControlLoop:
    """Observation -> budgeted act -> safety, for one agent and one active task at a time.

    Thread model: `tick` runs on the control thread; `prepare` may run on any thread and
    its result is handed over with `offer`, then installed by the next `tick` (one pointer
    swap, so no tick waits for a load).
    """

    def __init__(
        self,
        agent,
        task: str | None,
        safety_config: SafetyConfig,
        period_s: float,
        use_planner: bool = True,
        budget_fraction: float = 0.6,
        clock=time.monotonic,
        gravity_compensation: str = "auto",
    ) -> None:
        self.safety_config = safety_config
        self.gravity_compensation = gravity_compensation
        self.period_s = period_s
        self.use_planner = use_planner
        self.budget_fraction = budget_fraction
        self.clock = clock
        self.agent = agent
        self.contexts = build_contexts(
            agent, safety_config, gravity_compensation=gravity_compensation
        )
        self.task = task or agent.tasks[0]
        if self.task not in self.contexts:
            raise ControlError(
                f"task {self.task!r} is not in the checkpoint's tasks {agent.tasks}"
            )
        if self.context.gravity_error:
            raise ControlError(self.context.gravity_error)
        self._pending: tuple[object, dict[str, TaskContext]] | None = None
        self._lock = threading.Lock()
        self.swaps = 0
        self.tick_ms = TickStats()
        self.act_ms = TickStats()
        self.iterations = TickStats(200)
        self.ticks = 0
        self.overruns = 0  # ticks whose computation took longer than the period
        self.model_errors = 0
        self.last_error = ""  # the last tick error (kept after the ticks recover)
        self.error = ""  # the latest tick's error; "" while the model commands
        self.planned = TickStats(200)  # 1 per tick where the planner ran, else 0
        self.estop = False

    # -- task and model --------------------------------------------------------------------
    @property
    def context(self) -> TaskContext:
        """The TaskContext of the active task."""
        return self.contexts[self.task]

    def set_task(self, task: str) -> None:
        """Switch the active task (same robot joints); raises ControlError otherwise."""
        if task not in self.contexts:
            raise ControlError(
                f"task {task!r} is not in the checkpoint's tasks {self.agent.tasks}"
            )
        if self.contexts[task].joint_names != self.context.joint_names:
            raise ControlError(
                f"task {task!r} drives joints {self.contexts[task].joint_names}, the active "
                f"task {self.task!r} drives {self.context.joint_names}: a different robot"
            )
        if self.contexts[task].gravity_error:
            raise ControlError(self.contexts[task].gravity_error)
        new, old = self.contexts[task].action_spec.drive, self.context.action_spec.drive
        if new != old:
            raise ControlError(
                f"task {task!r} commands {new}, the active task {self.task!r} {old}: the "
                "robot's command interface cannot change under a running controller"
            )
        self.task = task
        self.agent.reset_warm_start(0)

    def prepare(self, agent) -> dict[str, TaskContext]:
        """Check that `agent` can take over the active task and warm it up (any thread)."""
        if self.task not in agent.tasks:
            raise ControlError(
                f"new checkpoint has tasks {agent.tasks}, not the active task {self.task!r}"
            )
        contexts = build_contexts(
            agent,
            self.safety_config,
            reuse=self.contexts,
            gravity_compensation=self.gravity_compensation,
        )
        if contexts[self.task].joint_names != self.context.joint_names:
            raise ControlError(
                f"new checkpoint drives {contexts[self.task].joint_names} for {self.task!r}, "
                f"the running one {self.context.joint_names}"
            )
        if contexts[self.task].gravity_error:
            raise ControlError(f"new checkpoint: {contexts[self.task].gravity_error}")
        obs = np.zeros((1, agent.obs_dim), np.float32)
        # First calls allocate; do them here, not in a tick. The planning calls run without
        # a budget: the planner's estimate of one iteration's cost only moves when an
        # iteration runs, and a cold first call would leave it too high for any budget.
        agent.act(obs, [self.task], explore=False, use_planner=False, slots=[0])
        if self.use_planner:
            for _ in range(WARMUP_PLANS):
                agent.act(
                    obs, [self.task], explore=False, use_planner=True, deadline=None, slots=[0]
                )
        agent.reset_warm_start()
        return contexts

    def offer(self, agent, contexts: dict[str, TaskContext]) -> None:
        """Hand a prepared agent to the control thread; the next tick installs it."""
        with self._lock:
            self._pending = (agent, contexts)

    def _install_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.agent, self.contexts = pending
            self.swaps += 1
            self.set_estop(self.estop)

    def budget_ms(self) -> float:
        """The planner's share of a tick: its deadline is this long after the tick starts."""
        return self.budget_fraction * self.period_s * 1000.0

    def planner_iteration_ms(self) -> float:
        """The planner's estimate of one iteration's cost (what the deadline is held to)."""
        planner = getattr(self.agent, "planner", None)
        return math.nan if planner is None else float(planner.iteration_ms)

    # -- the tick --------------------------------------------------------------------------
    def tick(self, snap: SensorSnapshot, now_s: float | None = None) -> TickResult:
        """One control step from the latest readings: a safe effort command (J,)."""
        t0 = time.perf_counter()
        self._install_pending()
        now_s = self.clock() if now_s is None else now_s
        ctx = self.context
        age = None if snap.joint_stamp_s is None else now_s - snap.joint_stamp_s
        effort, obs, q, v, error = None, None, None, None, ""
        planned, iterations, act_ms = False, 0, 0.0
        try:
            q = np.array([snap.positions[j] for j in ctx.joint_names], np.float64)
            v = np.array([snap.velocities[j] for j in ctx.joint_names], np.float64)
        except KeyError as exc:
            error = f"joint_states lacks joint {exc}"
        else:
            if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
                error = "joint_states has NaN/Inf positions or velocities"
        missing = [n for n in ctx.obs_spec.input_names if n not in snap.inputs]
        if missing and not error:
            error = f"{MISSING_INPUT}: no message yet on {missing} (commanding zero effort)"
        if not error and ctx.safety.sensor_age_ok(age) and not ctx.safety.estop:
            try:
                obs = ctx.obs_spec.build(snap.positions, snap.velocities, snap.inputs)
                if not np.all(np.isfinite(obs)):
                    raise ValueError("observation contains NaN/Inf")
                agent = self.agent
                padded = agent.pad_obs(obs, self.task)[None]
                # One deadline for the whole tick: the planner stops before an iteration it
                # could not finish by then (the rest of the period is for safety and sending).
                deadline = t0 + self.budget_ms() * 1e-3
                ta = time.perf_counter()
                out = agent.act(
                    padded,
                    [self.task],
                    explore=False,
                    use_planner=self.use_planner,
                    deadline=deadline,
                    slots=[0],
                )
                act_ms = (time.perf_counter() - ta) * 1000.0
                action = out.action[0, : len(ctx.joint_names)].astype(np.float64)
                effort = ctx.action_spec.to_command(action, q)
                if ctx.gravity is not None:  # trained on a gravity-free arm: hold it up
                    effort = effort + ctx.gravity(snap.positions)
                planned, iterations = bool(out.planned[0]), int(out.iterations)
            except (KeyError, ValueError, RuntimeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        if error:
            self.model_errors += 1
            self.last_error = error
        self.error = error
        command, state = ctx.safety.filter(effort, q, v, age, self.period_s)
        if error and state == SafetyState.OK:
            state = SafetyState.REJECTED
        tick_ms = (time.perf_counter() - t0) * 1000.0
        self.ticks += 1
        self.tick_ms.add(tick_ms)
        if effort is not None:
            self.act_ms.add(act_ms)
            self.iterations.add(iterations)
            self.planned.add(float(planned))
        if tick_ms > self.period_s * 1000.0:
            self.overruns += 1
        return TickResult(command, state, obs, planned, iterations, act_ms, tick_ms, error)

    def stop_command(self) -> np.ndarray | None:
        """The drive's safe command (on deactivate / shutdown).

        Zero effort or velocity, or hold the last measured position (None: a position drive
        that never saw the joints).
        """
        self.context.safety.reset()
        return self.context.safety.safe_command()

    def set_estop(self, engaged: bool) -> None:
        """Engage or release the e-stop of every task's safety layer (engaged: zero effort)."""
        self.estop = engaged
        for ctx in self.contexts.values():
            ctx.safety.estop = engaged


def load_control_loop(p: ControllerParams) -> ControlLoop:
    """Load `p.checkpoint` and build its warmed-up loop with the node's safety settings.

    Raises:
        CheckpointError: the checkpoint cannot be loaded.
        ControlError: the task or its joints do not fit the checkpoint.
    """
    import torch

    from m3po_learning.checkpoint import load_agent

    torch.set_num_threads(p.num_threads)
    agent = load_agent(p.checkpoint, device=p.device, overrides=p.planner_overrides.split())
    safety = SafetyConfig(
        p.max_effort_fraction, p.max_effort_rate, p.position_margin, p.sensor_timeout_s
    )
    loop = ControlLoop(
        agent,
        p.task or None,
        safety,
        p.period_s,
        p.use_planner,
        p.planner_budget_fraction,
        gravity_compensation=p.gravity_compensation,
    )
    loop.contexts = loop.prepare(agent)  # warm-up: first calls allocate
    return loop
