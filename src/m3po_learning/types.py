"""Shared value types: environment specs and training batches."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch


def discount_from_episode_length(episode_length: int) -> float:
    """Per-task discount from its episode length (TD-MPC2 heuristic, clipped to [0.95, 0.995])."""
    frac = episode_length / 5.0
    return float(min(max((frac - 1.0) / frac, 0.95), 0.995))


@dataclass(frozen=True)
class EnvSpec:
    """What the learner needs to know about one task; sizes come from here, never from config."""

    task: str  # registry name, e.g. "arm2/reach"
    obs_dim: int  # length of the flat observation vector
    action_dim: int  # number of actuated joints driven by the agent
    episode_length: int  # agent steps per episode (after action repeat)
    control_dt: float = 0.02  # seconds between agent actions
    joint_names: tuple[str, ...] = ()  # actuated joints, in action order
    obs_parts: tuple[tuple[str, int], ...] = ()  # (name, size) of each observation part, in order
    obs_layout: tuple[str, ...] = ()  # each part fully described (ObsPart.layout); () if unknown
    reward_range: tuple[float, float] = (0.0, 1.0)  # documented per-step reward bounds
    discount: float = field(default=-1.0)  # -1: derived from the episode length

    def __post_init__(self) -> None:
        if self.obs_dim <= 0 or self.action_dim <= 0:
            raise ValueError(
                f"EnvSpec {self.task!r}: obs_dim={self.obs_dim} and "
                f"action_dim={self.action_dim} must be positive"
            )
        if self.episode_length <= 0:
            raise ValueError(f"EnvSpec {self.task!r}: episode_length={self.episode_length} <= 0")
        if self.discount < 0:
            object.__setattr__(self, "discount", discount_from_episode_length(self.episode_length))
        if not 0.0 < self.discount < 1.0 or math.isnan(self.discount):
            raise ValueError(f"EnvSpec {self.task!r}: discount={self.discount} not in (0, 1)")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of every field (what checkpoint metadata stores)."""
        return {
            "task": self.task,
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "episode_length": self.episode_length,
            "control_dt": self.control_dt,
            "joint_names": list(self.joint_names),
            "obs_parts": [list(p) for p in self.obs_parts],
            "obs_layout": list(self.obs_layout),
            "reward_range": list(self.reward_range),
            "discount": self.discount,
        }

    @classmethod
    def from_dict(cls, d: dict) -> EnvSpec:
        """Inverse of `to_dict`; fields missing from older checkpoints take their defaults."""
        return cls(
            task=d["task"],
            obs_dim=int(d["obs_dim"]),
            action_dim=int(d["action_dim"]),
            episode_length=int(d["episode_length"]),
            control_dt=float(d.get("control_dt", 0.02)),
            joint_names=tuple(d.get("joint_names", ())),
            obs_parts=tuple((str(n), int(s)) for n, s in d.get("obs_parts", ())),
            obs_layout=tuple(str(x) for x in d.get("obs_layout", ())),
            reward_range=tuple(d.get("reward_range", (0.0, 1.0))),
            discount=float(d.get("discount", -1.0)),
        )


def pad_last(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad the last axis of `x` to `width` (float32).

    Pads one task's obs/actions to the multi-task sizes. Returns `x` itself (as float32) when
    it is already that wide.
    """
    x = np.asarray(x, np.float32)
    if x.shape[-1] == width:
        return x
    out = np.zeros((*x.shape[:-1], width), np.float32)
    out[..., : x.shape[-1]] = x
    return out


class Batch(NamedTuple):
    """Sub-trajectories sampled from replay. B = batch, H = horizon, O/A = padded sizes."""

    obs: torch.Tensor  # (H+1, B, O)
    action: torch.Tensor  # (H, B, A), zero in masked dimensions
    reward: torch.Tensor  # (H, B)
    terminated: torch.Tensor  # (H, B) 1.0 where the episode ended by termination
    task: torch.Tensor  # (B,) long task index
    log_mu: torch.Tensor  # (H, B) behaviour log-probability stored at acting time
