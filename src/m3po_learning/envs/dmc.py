"""DeepMind Control Suite tasks behind the same interface, with the published protocol.

Protocol of ../shared/REFERENCE_RESULTS.md: action repeat 2, 1000 environment steps per
episode (500 agent steps), state observations flattened in the suite's key order, and the
reward of an agent step = the sum of its two environment rewards, so per-step rewards lie
in [0, 2] and episode returns in [0, 1000], comparable to the published tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np

from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_learning.envs.observation import ObservationSpec
from m3po_learning.types import EnvSpec

ACTION_REPEAT = 2
PREFIX = "dmc/"
# Reference-table tasks (REFERENCE_RESULTS.md), listed by `list_tasks()`.
REFERENCE_TASKS = (
    "dmc/cartpole-swingup",
    "dmc/reacher-easy",
    "dmc/walker-walk",
    "dmc/cheetah-run",
    "dmc/finger-spin",
    "dmc/cup-catch",
    "dmc/pendulum-swingup",
    "dmc/reacher-hard",
    "dmc/walker-run",
)
_DOMAIN_ALIASES = {"cup": "ball_in_cup"}
_ONE_DOF = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


def parse_dmc_name(name: str) -> tuple[str, str]:
    """Split a registry name: "dmc/cup-catch" -> ("ball_in_cup", "catch").

    Hyphens after the first become underscores: "dmc/finger-turn-easy" -> ("finger", "turn_easy").
    """
    if not name.startswith(PREFIX) or "-" not in name:
        raise ValueError(f"{name!r} is not a DMC task name like 'dmc/cheetah-run'")
    domain, task = name[len(PREFIX) :].split("-", 1)
    return _DOMAIN_ALIASES.get(domain, domain), task.replace("-", "_")


def suite_task_names() -> list[str]:
    """Every dm_control suite task as a registry name ("dmc/hopper-stand", ...)."""
    from dm_control import suite

    inverse = {v: k for k, v in _DOMAIN_ALIASES.items()}
    return [f"{PREFIX}{inverse.get(d, d)}-{t.replace('_', '-')}" for d, t in suite.ALL_TASKS]


def check_dmc_name(name: str) -> tuple[str, str]:
    """(domain, task) of a dm_control suite task; ValueError listing the suite otherwise."""
    from dm_control import suite

    domain, task = parse_dmc_name(name)
    if (domain, task) not in suite.ALL_TASKS:
        raise ValueError(
            f"unknown DMC task {name!r}; dm_control's suite has: {', '.join(suite_task_names())}"
        )
    return domain, task


def _load(name: str, seed: int):
    from dm_control import suite

    domain, task = check_dmc_name(name)
    return suite.load(domain, task, task_kwargs={"random": seed})


def _flatten(observation: Mapping[str, np.ndarray], out: np.ndarray) -> np.ndarray:
    i = 0
    for value in observation.values():
        flat = np.asarray(value).ravel()
        out[i : i + flat.size] = flat
        i += flat.size
    return out


class DmcObservationSpec(ObservationSpec):
    """Parts = the suite's observation keys; `build` sets a private copy of the physics.

    Reproduces the env's observation from joint readings for tasks whose observation is a
    function of the joint state (cheetah, walker, cartpole, pendulum, cup, finger-spin);
    tasks with hidden episode state (the reacher's target) are not reproducible this way.
    """

    def __init__(self, name: str, env) -> None:
        self.task = name
        self._env = env
        obs = env.task.get_observation(env.physics)
        self.parts = tuple((k, int(np.asarray(v).size)) for k, v in obs.items())
        self.layout = tuple(f"{k}:dmc[{size}]" for k, size in self.parts)
        self.part_defs = ()
        self.obs_dim = sum(s for _, s in self.parts)
        m = env.physics.model
        ids = [j for j in range(m.njnt) if m.jnt_type[j] in _ONE_DOF]
        self.joint_names = tuple(m.joint(j).name for j in ids)
        self.position_joints = list(self.joint_names)
        self.velocity_joints = list(self.joint_names)
        self.input_names = ()
        self.input_sizes = {}
        self.frame_names = ()
        self.kinematics = None
        self.urdf = None
        self._physics = None

    def build(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        inputs: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """The env's observation (obs_dim,) for these joint readings, by joint name.

        `inputs` is unused: DMC tasks take no task inputs. Raises KeyError when a joint's
        position or velocity is missing.
        """
        missing = [j for j in self.joint_names if j not in positions or j not in velocities]
        if missing:
            raise KeyError(f"observation for {self.task!r} needs joints {missing}")
        if self._physics is None:
            self._physics = self._env.physics.copy(share_model=True)
        physics = self._physics
        named = physics.named.data
        for j in self.joint_names:
            named.qpos[j] = positions[j]
            named.qvel[j] = velocities[j]
        physics.forward()
        obs = self._env.task.get_observation(physics)
        return _flatten(obs, np.empty(self.obs_dim, np.float32))


class DmcEnv:
    """A dm_control suite task with action repeat 2 and flattened float32 observations."""

    def __init__(self, name: str, seed: int = 0) -> None:
        self.name = name
        self._env = _load(name, seed)
        env = self._env
        spec = env.action_spec()
        self._lo, self._hi = spec.minimum.astype(np.float64), spec.maximum.astype(np.float64)
        self.observation_spec = DmcObservationSpec(name, env)
        m = env.physics.model
        act_joints = tuple(
            m.joint(m.actuator_trnid[k, 0]).name
            if m.actuator_trntype[k] == mujoco.mjtTrn.mjTRN_JOINT
            else m.actuator(k).name
            for k in range(m.nu)
        )
        limit = getattr(env, "_step_limit", 1000.0)
        self.env_steps = int(limit) if np.isfinite(limit) else 1000
        self.spec = EnvSpec(
            task=name,
            obs_dim=self.observation_spec.obs_dim,
            action_dim=spec.shape[0],
            episode_length=self.env_steps // ACTION_REPEAT,
            control_dt=env.control_timestep() * ACTION_REPEAT,
            joint_names=act_joints,
            obs_parts=self.observation_spec.parts,
            obs_layout=self.observation_spec.layout,
            reward_range=(0.0, float(ACTION_REPEAT)),
        )
        self.model = m
        self._t = 0
        self._action = np.zeros(self.spec.action_dim)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; `seed` reseeds the task's generator. Returns (obs, info)."""
        if seed is not None:
            self._env.task._random = np.random.RandomState(seed)
        ts = self._env.reset()
        self._t = 0
        return _flatten(ts.observation, np.empty(self.spec.obs_dim, np.float32)), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply `action` (action_dim,) in [-1, 1] for ACTION_REPEAT suite steps.

        Returns (obs, reward summed over the repeats, terminated, truncated, info).
        """
        obs = np.empty(self.spec.obs_dim, np.float32)
        reward, terminated, truncated = self._step_into(action, obs)
        return obs, reward, terminated, truncated, {}

    def _step_into(self, action: np.ndarray, obs_out: np.ndarray) -> tuple[float, bool, bool]:
        a = self._action
        np.clip(action, -1.0, 1.0, out=a)
        scaled = self._lo + (a + 1.0) * 0.5 * (self._hi - self._lo)
        reward, terminated, truncated = 0.0, False, False
        for _ in range(ACTION_REPEAT):
            ts = self._env.step(scaled)
            reward += ts.reward or 0.0
            if ts.last():
                terminated = ts.discount == 0.0
                truncated = not terminated
                break
        self._t += 1
        _flatten(ts.observation, obs_out)
        return float(reward), terminated, truncated or self._t >= self.spec.episode_length

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
        """(names, positions, velocities, actuator forces) of the observed 1-DoF joints."""
        names = self.observation_spec.joint_names
        d = self._env.physics.named.data
        pos = np.array([d.qpos[n][0] for n in names])
        vel = np.array([d.qvel[n][0] for n in names])
        eff = np.array([d.qfrc_actuator[n][0] for n in names])
        return names, pos, vel, eff

    def task_inputs(self) -> dict[str, np.ndarray]:
        """No task inputs for DMC tasks: always {}."""
        return {}

    def joint_limits(self) -> dict[str, JointLimit]:
        """Limits of the observed joints and of every actuated one, by name.

        The effort limit of an actuated joint is its actuator's |gear| x control range (what
        an action of 1 applies); velocity limits are not modelled by dm_control (inf).
        """
        m = self.model
        effort: dict[str, float] = {}
        for k in range(m.nu):
            if m.actuator_trntype[k] == mujoco.mjtTrn.mjTRN_JOINT:
                name = m.joint(m.actuator_trnid[k, 0]).name
            else:
                name = m.actuator(k).name
            effort[name] = float(
                abs(m.actuator_gear[k, 0]) * np.abs(m.actuator_ctrlrange[k]).max()
            )
        out = {}
        for name in dict.fromkeys((*self.observation_spec.joint_names, *effort)):
            lo, hi = -np.inf, np.inf
            if name in self.observation_spec.joint_names:
                j = m.joint(name)
                if j.limited[0]:
                    lo, hi = float(j.range[0]), float(j.range[1])
            out[name] = JointLimit(name, effort.get(name, 0.0), np.inf, (lo, hi))
        return out

    @property
    def action_spec(self) -> ActionSpec:
        """Actuated joints (or actuators) in action order with their effort limits."""
        return ActionSpec.from_limits(self.spec.joint_names, self.joint_limits())

    def render(self, width: int = 320, height: int = 240, quality: str = "full") -> np.ndarray:
        """Offscreen RGB frame (height, width, 3) uint8 from camera 0.

        dm_control draws with its own scene settings: `quality` is checked, not applied.
        """
        from m3po_learning.envs.env import RENDER_QUALITIES

        if quality not in RENDER_QUALITIES:
            raise ValueError(f"quality={quality!r}: use one of {RENDER_QUALITIES}")
        return self._env.physics.render(height=height, width=width, camera_id=0)

    def close(self) -> None:
        """Release the suite environment."""
        self._env.close()

    def __repr__(self) -> str:
        s = self.spec
        return f"DmcEnv({self.name!r}, obs_dim={s.obs_dim}, action_dim={s.action_dim})"
