"""Episode replay: a ring buffer per env stream; sub-trajectories never cross episodes."""

from __future__ import annotations

import numpy as np
import torch

from m3po_learning.types import Batch


class ReplayBuffer:
    """Replay of S env streams, sampled as length-H sub-trajectories balanced over tasks.

    Stores transitions from S streams (one per vectorised env slot); every sampled
    sub-trajectory stays inside one episode.

    Each stream is a ring of `capacity // S` transitions; a transition keeps its own next
    observation, so episode ends (auto-reset) need no special casing.
    """

    def __init__(
        self,
        num_streams: int,
        stream_tasks: list[int],
        obs_dim: int,
        action_dim: int,
        capacity: int,
        horizon: int,
        seed: int = 0,
    ):
        if len(stream_tasks) != num_streams:
            raise ValueError(f"{num_streams} streams but {len(stream_tasks)} stream tasks")
        self.S = num_streams
        self.C = max(capacity // num_streams, horizon + 1)
        self.H = horizon
        self.stream_tasks = np.asarray(stream_tasks, dtype=np.int64)
        shape = (self.S, self.C)
        self.obs = np.zeros((*shape, obs_dim), np.float32)
        self.next_obs = np.zeros((*shape, obs_dim), np.float32)
        self.action = np.zeros((*shape, action_dim), np.float32)
        self.reward = np.zeros(shape, np.float32)
        self.terminated = np.zeros(shape, np.float32)
        self.log_mu = np.zeros(shape, np.float32)
        self.episode = np.full(shape, -1, np.int64)
        self.ptr = np.zeros(self.S, np.int64)  # next write position per stream
        self.count = np.zeros(self.S, np.int64)  # transitions written per stream (not capped)
        self._episode_ids = np.arange(self.S, dtype=np.int64)  # current episode id per stream
        self._next_episode = self.S
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(np.minimum(self.count, self.C).sum())

    def add(self, obs, action, reward, next_obs, terminated, done, log_mu, streams=None) -> None:
        """Add one step to each of `streams` (default: all S).

        obs/next_obs (n, O), action (n, A), the others (n,).
        """
        rows = np.arange(self.S) if streams is None else np.asarray(streams, np.int64)
        p = self.ptr[rows]
        self.obs[rows, p] = obs
        self.next_obs[rows, p] = next_obs
        self.action[rows, p] = action
        self.reward[rows, p] = reward
        self.terminated[rows, p] = terminated
        self.log_mu[rows, p] = log_mu
        self.episode[rows, p] = self._episode_ids[rows]
        self.ptr[rows] = (p + 1) % self.C
        self.count[rows] += 1
        done_rows = rows[np.asarray(done, bool)]
        n_new = len(done_rows)
        if n_new:
            self._episode_ids[done_rows] = np.arange(
                self._next_episode, self._next_episode + n_new
            )
            self._next_episode += n_new

    def add_episode(self, stream: int, obs, action, reward, terminated, log_mu=None) -> None:
        """Add a whole episode to one stream (rosbags, sim nodes): obs (T+1, O), action (T, A)."""
        T = len(action)
        if len(obs) != T + 1 or len(reward) != T:
            raise ValueError(
                f"episode shapes disagree: obs {len(obs)} (want T+1={T + 1}), "
                f"reward {len(reward)} (want T={T})"
            )
        log_mu = np.zeros(T, np.float32) if log_mu is None else log_mu
        term = np.asarray(terminated, np.float32)
        for t in range(T):
            p = self.ptr[stream]
            self.obs[stream, p] = obs[t]
            self.next_obs[stream, p] = obs[t + 1]
            self.action[stream, p] = action[t]
            self.reward[stream, p] = reward[t]
            self.terminated[stream, p] = term[t]
            self.log_mu[stream, p] = log_mu[t]
            self.episode[stream, p] = self._episode_ids[stream]
            self.ptr[stream] = (p + 1) % self.C
            self.count[stream] += 1
        self._episode_ids[stream] = self._next_episode
        self._next_episode += 1

    # The arrays a saved buffer holds per stream and slot, trimmed to the slots in use.
    _SLOT_ARRAYS = ("obs", "next_obs", "action", "reward", "terminated", "log_mu", "episode")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to continue filling and sampling, as numpy arrays (for np.savez).

        The per-slot arrays are cut to the slots any stream has written, so a barely filled
        buffer saves small. The sampling generator is not saved (a resumed run draws anew).
        """
        used = int(np.minimum(self.count, self.C).max()) if self.S else 0
        state = {
            "ptr": self.ptr.copy(),
            "count": self.count.copy(),
            "episode_ids": self._episode_ids.copy(),
            "next_episode": np.array(self._next_episode),
        }
        for k in self._SLOT_ARRAYS:
            state[k] = getattr(self, k)[:, :used].copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore `state_dict()` output into this buffer, which must have the same shape.

        Raises:
            ValueError: a key is missing, or an array does not fit this buffer (streams,
                capacity, observation or action size); the message names the key.
        """
        missing = sorted(
            {"ptr", "count", "episode_ids", "next_episode", *self._SLOT_ARRAYS} - set(state)
        )
        if missing:
            raise ValueError(f"replay state lacks {missing}")
        for k in self._SLOT_ARRAYS:
            mine, theirs = getattr(self, k), np.asarray(state[k])
            n = theirs.shape[1] if theirs.ndim > 1 else -1
            if (
                theirs.shape[:1] + theirs.shape[2:] != mine.shape[:1] + mine.shape[2:]
                or n > self.C
            ):
                raise ValueError(
                    f"replay state {k} has shape {theirs.shape}, this buffer holds {mine.shape}"
                )
        for k in ("ptr", "count", "episode_ids"):
            if np.shape(state[k]) != (self.S,):
                raise ValueError(
                    f"replay state {k} has shape {np.shape(state[k])}, expected ({self.S},)"
                )
        for k in self._SLOT_ARRAYS:
            theirs = np.asarray(state[k])
            getattr(self, k)[:, : theirs.shape[1]] = theirs
        self.ptr[:] = state["ptr"]
        self.count[:] = state["count"]
        self._episode_ids[:] = state["episode_ids"]
        self._next_episode = int(state["next_episode"])

    def _valid_starts(self, stream: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Start positions whose H steps are written, chronological, and in one episode."""
        n = np.minimum(self.count[stream], self.C)
        # age 0 = oldest stored transition; a start is valid if start..start+H-1 are all stored.
        oldest = np.where(self.count[stream] > self.C, self.ptr[stream], 0)
        age = (start - oldest) % self.C
        ok = age + self.H <= n
        last = (start + self.H - 1) % self.C
        return ok & (self.episode[stream, start] == self.episode[stream, last])

    def sample(self, batch_size: int, device: torch.device | str = "cpu") -> Batch:
        """Task-balanced sub-trajectories: obs (H+1, B, O), action (H, B, A), ..."""
        eligible = np.nonzero(np.minimum(self.count, self.C) >= self.H)[0]
        if len(eligible) == 0:
            raise RuntimeError(f"replay holds no sub-trajectory of length {self.H} yet")
        # Balance tasks: each task gets equal mass, split over the streams that run it.
        et = self.stream_tasks[eligible]
        _, inv, per_task = np.unique(et, return_inverse=True, return_counts=True)
        weights = 1.0 / per_task[inv]
        weights /= weights.sum()
        streams = np.empty(batch_size, np.int64)
        starts = np.empty(batch_size, np.int64)
        filled = 0
        for _ in range(100):
            k = 2 * (batch_size - filled)
            cand = self.rng.choice(eligible, size=k, p=weights)
            size = np.minimum(self.count[cand], self.C)
            st = (
                self.rng.integers(0, np.maximum(size, 1))
                + np.where(self.count[cand] > self.C, self.ptr[cand], 0)
            ) % self.C
            ok = self._valid_starts(cand, st)
            take = min(int(ok.sum()), batch_size - filled)
            streams[filled : filled + take] = cand[ok][:take]
            starts[filled : filled + take] = st[ok][:take]
            filled += take
            if filled == batch_size:
                break
        else:
            raise RuntimeError("could not sample enough in-episode sub-trajectories")
        idx = (starts[None, :] + np.arange(self.H)[:, None]) % self.C  # (H, B)
        s = streams[None, :]
        obs = np.concatenate([self.obs[streams, starts][None], self.next_obs[s, idx]], axis=0)
        dev = torch.device(device)

        def t(x, dtype=torch.float32):
            return torch.as_tensor(x, dtype=dtype, device=dev)

        return Batch(
            obs=t(obs),
            action=t(self.action[s, idx]),
            reward=t(self.reward[s, idx]),
            terminated=t(self.terminated[s, idx]),
            task=t(self.stream_tasks[streams], torch.long),
            log_mu=t(self.log_mu[s, idx]),
        )
