"""gymnasium front end: every task as a `gymnasium.Env`, registered as `m3po/<robot>-<task>-v0`.

    import gymnasium as gym
    env = gym.make("m3po_learning.gym:m3po/arm2-reach-v0", render_mode="rgb_array")
    # or: import m3po_learning.gym, then gym.make("m3po/arm2-reach-v0")
    obs, info = env.reset(seed=0)

Importing this module registers the ids; the "module:id" form makes gymnasium import it
(gymnasium 1.x dropped the plugin entry points that older versions loaded on import). The
registration reads only the task sets in config/tasks/ and does not import MuJoCo, which
reads MUJOCO_GL when it is first imported: the env's first construction does.
Observations are float32 Boxes (unbounded), actions Boxes in [-1, 1] (1 = a joint's effort
limit; position and velocity drives, ids ending in -position-v0 / -velocity-v0, are in
m3po_learning.envs.drive), episodes truncate at the task's episode length. `randomize` and
`reality_gap` pass through to `make_env` (domain randomisation, evaluation-only variants).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

NAMESPACE = "m3po"
TASK_SETS = ("default", "dmc")  # the built-in URDF tasks and the DMControl reference tasks


def env_id(task: str) -> str:
    """'arm2/reach' -> 'm3po/arm2-reach-v0'; 'dmc/cheetah-run' -> 'm3po/dmc-cheetah-run-v0'.

    Drives (`m3po_learning.envs.drive`): 'arm2/reach@position' -> 'm3po/arm2-reach-position-v0'.
    """
    return f"{NAMESPACE}/{task.replace('/', '-').replace('@', '-')}-v0"


class M3POEnv(gymnasium.Env):
    """One task of the suite as a gymnasium Env.

    Args:
        task: registry task name, e.g. "arm2/reach" or "dmc/cheetah-run".
        render_mode: None or "rgb_array" (offscreen MuJoCo; set MUJOCO_GL=egl or osmesa
            on a machine without a display).
        randomize: domain randomisation, as `make_env` takes it (False: off).
        reality_gap: a named evaluation variant from config/randomization/reality_gap.yaml.
        width, height: rendered frame size.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        task: str = "arm2/reach",
        render_mode: str | None = None,
        randomize: Any = False,
        reality_gap: str | None = None,
        width: int = 320,
        height: int = 240,
    ) -> None:
        from m3po_learning.envs import make_env

        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: this env renders only 'rgb_array'")
        self.task = task
        self.env = make_env(task, 0, randomize=randomize, reality_gap=reality_gap)
        spec = self.env.spec
        self.observation_space = spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (spec.action_dim,), np.float32)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / spec.control_dt)}
        self._size = (width, height)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. With `seed`, the episode (initial state, goal) is reproducible."""
        super().reset(seed=seed)
        if seed is None:  # draw from gymnasium's generator, itself seeded by the first seed
            seed = int(self.np_random.integers(2**31))
        obs, info = self.env.reset(seed)
        self._steps = 0
        return obs, info

    def step(self, action):
        """One control period; truncated at the task's episode length."""
        a = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        obs, reward, terminated, truncated, info = self.env.step(a)
        self._steps += 1
        truncated = bool(truncated) or self._steps >= self.env.spec.episode_length
        return obs, float(reward), bool(terminated), truncated, info

    def render(self):
        """An (H, W, 3) uint8 frame when render_mode is "rgb_array", else None."""
        if self.render_mode != "rgb_array":
            return None
        return self.env.render(*self._size)

    def close(self) -> None:
        """Free the renderer."""
        self.env.close()


class M3POVectorEnv(gymnasium.vector.VectorEnv):
    """Several envs stepped together (`m3po_learning.envs.VectorEnv`), tasks may differ.

    `gym.make_vec("m3po/arm2-reach-v0", num_envs=4)` makes four copies of one task;
    `M3POVectorEnv(tasks=["arm2/reach", "pendulum/swingup"])` mixes tasks, with observations
    zero-padded to the widest task and actions to the widest (the extra action dimensions of
    a narrower task are ignored; `info["obs_mask"]` and `action_mask` say which are real).
    Episodes reset in the same step (gymnasium's SAME_STEP autoreset): where one ended,
    the returned observation is the next episode's first and `info["final_obs"]` the last.

    Args:
        task: one task for all `num_envs` envs (what `gym.make_vec` passes).
        num_envs: copies of `task`.
        tasks: the tasks of the envs, one entry each (instead of task and num_envs).
        seed: env i is seeded with seed + i until `reset(seed=...)` says otherwise.
        randomize, reality_gap: as for `M3POEnv`.
    """

    metadata = {"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP}

    def __init__(
        self,
        task: str | None = None,
        num_envs: int = 1,
        tasks: list[str] | None = None,
        seed: int = 0,
        randomize: Any = False,
        reality_gap: str | None = None,
    ) -> None:
        from m3po_learning.envs import VectorEnv

        if tasks is None:
            if task is None:
                raise ValueError("M3POVectorEnv needs `task` (with num_envs) or `tasks`")
            tasks = [task] * num_envs
        self.vec = VectorEnv(tasks, seed=seed, randomize=randomize, reality_gap=reality_gap)
        self.num_envs = self.vec.num_envs
        self.tasks = list(tasks)
        self.single_observation_space = spaces.Box(
            -np.inf, np.inf, (self.vec.obs_dim,), np.float32
        )
        self.single_action_space = spaces.Box(-1.0, 1.0, (self.vec.action_dim,), np.float32)
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gymnasium.vector.utils.batch_space(
            self.single_action_space, self.num_envs
        )
        self._masks = {"obs_mask": self.vec.obs_masks, "action_mask": self.vec.action_masks}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset every env; with `seed`, env i starts from seed + i."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        obs = self.vec.reset(seed)
        return obs, {"task": np.array(self.tasks), **self._masks}

    def step(self, actions):
        """Step all envs with `actions` (num_envs, action_dim) in [-1, 1]."""
        obs, reward, terminated, truncated, info = self.vec.step(np.asarray(actions))
        done = terminated | truncated
        info = {**info, "_final_obs": done, "_episode_return": done, "_episode_length": done}
        return obs, reward.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs) -> None:
        """Free the renderers."""
        self.vec.close()


def suite_tasks() -> list[str]:
    """The tasks registered with gymnasium: config/tasks/default.yaml and dmc.yaml."""
    import yaml

    from m3po_learning.paths import config_dir

    tasks: list[str] = []
    for name in TASK_SETS:
        data = yaml.safe_load((config_dir() / "tasks" / f"{name}.yaml").read_text()) or {}
        tasks += [t for t in data.get("tasks", []) if t not in tasks]
    return tasks


def drive_variants() -> list[str]:
    """The built-in URDF tasks through a position or velocity servo ("arm2/reach@position")."""
    import yaml

    from m3po_learning.paths import config_dir

    data = yaml.safe_load((config_dir() / "tasks" / "default.yaml").read_text()) or {}
    return [f"{t}@{d}" for t in data.get("tasks", []) for d in ("position", "velocity")]


def register_envs() -> None:
    """Register every suite task and its drive variants with gymnasium."""
    for task in suite_tasks() + drive_variants():
        gid = env_id(task)
        if gid in gymnasium.registry:
            continue
        gymnasium.register(
            id=gid,
            entry_point="m3po_learning.gym:M3POEnv",
            vector_entry_point="m3po_learning.gym:M3POVectorEnv",
            kwargs={"task": task},
        )


register_envs()
