"""Step every task of a task set in one call, with padded observations and action masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from m3po_learning.envelope import Envelope
from m3po_learning.envs.env import Env
from m3po_learning.envs.registry import make_env
from m3po_learning.types import EnvSpec


class VectorEnv:
    """N envs (one per entry of `tasks`, repeats allowed) behind padded arrays.

    Observations are zero-padded to the largest obs_dim; actions are (N, A) with A the
    largest action_dim, and dimensions outside `action_masks[i]` are ignored. Episodes
    auto-reset in the same step: where terminated | truncated, the returned observation row
    is the next episode's first one and `info["final_obs"]` holds the real last one.
    Env i is seeded with `seed + i`.
    """

    def __init__(
        self,
        tasks: Sequence[str],
        seed: int = 0,
        randomize: bool | str | Path | Mapping | None = False,
        reality_gap: str | None = None,
        envelope: Envelope | None = None,
    ) -> None:
        if len(tasks) == 0:
            raise ValueError("VectorEnv needs at least one task")
        self.tasks = list(tasks)
        self.seed = seed
        self.envs: list[Env] = [
            make_env(
                t, seed=seed + i, randomize=randomize, reality_gap=reality_gap, envelope=envelope
            )
            for i, t in enumerate(self.tasks)
        ]
        self.specs: list[EnvSpec] = [e.spec for e in self.envs]
        self.num_envs = len(self.envs)
        self.obs_dim = max(s.obs_dim for s in self.specs)
        self.action_dim = max(s.action_dim for s in self.specs)
        n, o, a = self.num_envs, self.obs_dim, self.action_dim
        self.action_masks = np.zeros((n, a), np.bool_)
        self.obs_masks = np.zeros((n, o), np.bool_)
        for i, s in enumerate(self.specs):
            self.action_masks[i, : s.action_dim] = True
            self.obs_masks[i, : s.obs_dim] = True
        self._obs = np.zeros((n, o), np.float32)
        self._obs_rows = [self._obs[i, : s.obs_dim] for i, s in enumerate(self.specs)]
        # URDF envs write their observation straight into their row (None here); adapter
        # envs (DMC) return theirs, which is copied into the row.
        self._adapter_rows: list[np.ndarray | None] = []
        for env, row in zip(self.envs, self._obs_rows, strict=True):
            if isinstance(env, Env):
                env.attach_output(row)
                self._adapter_rows.append(None)
            else:
                self._adapter_rows.append(row)
        self._act_dims = [s.action_dim for s in self.specs]
        # Persistent clipped-action buffer with one row view per env: no slicing per step.
        self._actions = np.zeros((n, a))
        self._action_rows = [self._actions[i, : s.action_dim] for i, s in enumerate(self.specs)]
        self._returns = np.zeros(n)
        self._lengths = np.zeros(n, np.int64)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every env (env i reseeded with `seed + i` when given). Returns (N, O)."""
        for i in range(self.num_envs):
            self._reset_one(i, None if seed is None else seed + i)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._obs.copy()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all envs with `actions` (N, A) in [-1, 1].

        Returns obs (N, O) float32, reward (N,) float32, terminated (N,), truncated (N,) bool,
        and info with "final_obs" (N, O) (the real last observation where an episode
        ended, else equal to obs), "episode_return" and "episode_length" (N,) (of the
        episode that ended, 0 elsewhere) and "episode_success" (N,) float (1/0 where an
        episode of a task with a success metric, e.g. MetaWorld's, ended; NaN elsewhere).
        """
        actions = np.asarray(actions, np.float64)
        if actions.shape != (self.num_envs, self.action_dim):
            raise ValueError(
                f"VectorEnv.step: actions shape {actions.shape} != "
                f"({self.num_envs}, {self.action_dim})"
            )
        n = self.num_envs
        acts = self._actions
        np.clip(actions, -1.0, 1.0, out=acts)
        if np.isnan(acts.sum()):
            raise ValueError(
                f"VectorEnv.step: actions contain NaN in rows {np.isnan(acts).any(1)}"
            )
        rewards, terms, truncs = [0.0] * n, [False] * n, [False] * n
        success = np.full(n, np.nan)
        rows = self._adapter_rows
        for i, (env, a) in enumerate(zip(self.envs, self._action_rows, strict=True)):
            if rows[i] is None:
                rewards[i], terms[i], truncs[i] = env._advance_clipped(a)
            else:  # an adapter env (DMC) returns its own observation
                o, rewards[i], terms[i], truncs[i], step_info = env.step(a)
                rows[i][:] = o
                if "episode_success" in step_info:
                    success[i] = float(step_info["episode_success"])
        reward = np.array(rewards, np.float32)
        terminated = np.array(terms, np.bool_)
        truncated = np.array(truncs, np.bool_)
        self._returns += reward
        self._lengths += 1
        final_obs = self._obs.copy()
        done = terminated | truncated
        ep_return = np.zeros(n)
        ep_length = np.zeros(n, np.int64)
        if done.any():
            for i in np.flatnonzero(done):
                ep_return[i], ep_length[i] = self._returns[i], self._lengths[i]
                self._returns[i], self._lengths[i] = 0.0, 0
                self._reset_one(i, None)
        success[~done] = np.nan
        info = {
            "final_obs": final_obs,
            "episode_return": ep_return,
            "episode_length": ep_length,
            "episode_success": success,
        }
        return self._obs.copy(), reward, terminated, truncated, info

    def _reset_one(self, i: int, seed: int | None) -> None:
        obs, _ = self.envs[i].reset(seed)
        self._obs[i, : obs.shape[0]] = obs  # URDF envs already wrote it; adapters did not

    def render(self, index: int, width: int = 320, height: int = 240) -> np.ndarray:
        """RGB frame (height, width, 3) uint8 of env `index`."""
        return self.envs[index].render(width, height)

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()
