"""Held-out bag data: blocked hold-out split, length-H windows, world-model loss on them.

Every k-th block of `block` transitions of every episode (k = 1/frac) is held out and never
trained on; the fine-tuning report is the world-model loss on every length-H window of it,
before and after (docs/rosbag.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.datasets import Episode
from m3po_learning.types import Batch, pad_last


def _piece(e: Episode, a: int, b: int) -> Episode:
    """Transitions a..b-1 of `e` (observations a..b)."""
    return Episode(
        e.obs[a : b + 1],
        e.action[a:b],
        e.reward[a:b],
        e.terminated[a:b],
        e.time_s[a : b + 1],
        e.bag,
    )


def split_holdout(
    episodes: Sequence[Episode], frac: float, min_len: int, block: int = 25
) -> tuple[list[Episode], list[Episode]]:
    """Hold out every k-th block of `block` transitions (k = 1/frac) of every episode.

    Blocked hold-out (as in blocked cross-validation of time series): held-out windows never
    overlap training windows, yet they cover the same episodes, goals and states as the
    training data, so the loss measures fit to *this* robot's data rather than extrapolation
    to the end of each episode. Pieces shorter than `min_len` are dropped from the hold-out
    and given to training.
    """
    if frac <= 0:
        return list(episodes), []
    every = max(2, int(round(1.0 / frac)))
    train, held = [], []
    for e in episodes:
        T = len(e)
        a = 0
        for j, s in enumerate(range(0, T, block)):
            b = min(s + block, T)
            if j % every == every // 2 and b - s >= min_len:
                if s > a:
                    train.append(_piece(e, a, s))
                held.append(_piece(e, s, b))
                a = b
        if T > a:
            train.append(_piece(e, a, T))
    return train, held


def windows_batch(
    agent: M3POAgent, episodes: Sequence[Episode], task_id: int, horizon: int, limit: int = 0
) -> Batch | None:
    """Every length-`horizon` window of `episodes` as one Batch (evenly thinned to `limit`)."""
    starts = [(i, s) for i, e in enumerate(episodes) for s in range(len(e) - horizon + 1)]
    if not starts:
        return None
    if limit and len(starts) > limit:
        pick = np.linspace(0, len(starts) - 1, limit).round().astype(int)
        starts = [starts[i] for i in pick]
    O, A = agent.obs_dim, agent.action_dim
    obs = np.stack([pad_last(episodes[i].obs[s : s + horizon + 1], O) for i, s in starts], 1)
    act = np.stack([pad_last(episodes[i].action[s : s + horizon], A) for i, s in starts], 1)
    rew = np.stack([episodes[i].reward[s : s + horizon] for i, s in starts], 1)
    term = np.stack([episodes[i].terminated[s : s + horizon] for i, s in starts], 1)
    dev = agent.device
    t = lambda x: torch.as_tensor(x, dtype=torch.float32, device=dev)  # noqa: E731
    B = len(starts)
    return Batch(
        t(obs),
        t(act),
        t(rew),
        t(term),
        torch.full((B,), task_id, dtype=torch.long, device=dev),
        t(np.zeros_like(rew)),
    )


@torch.no_grad()
def world_model_loss(
    agent: M3POAgent, batch: Batch, chunk: int = 1024, seed: int = 0
) -> dict[str, float]:
    """The world-model losses of `agent.update_world_model` on `batch`, without a step.

    Returns consistency, reward and Q (value) losses, their weighted sum `total`, and
    `fit` = consistency_coef * consistency + reward_coef * reward: how well the model
    predicts the data itself (the Q term chases a bootstrapped target and is reported apart).
    Deterministic: dropout off, the policy/target-head draws seeded.
    """
    m, o = agent.model, agent.cfg.optim
    was_training = m.training
    m.eval()
    sums = {"consistency": 0.0, "reward_loss": 0.0, "value_loss": 0.0}
    n_total = batch.action.shape[1]
    generator = torch.Generator(device=agent.device).manual_seed(seed)
    with torch.no_grad():
        for lo in range(0, n_total, chunk):
            sl = slice(lo, min(lo + chunk, n_total))
            part = Batch(
                batch.obs[:, sl],
                batch.action[:, sl],
                batch.reward[:, sl],
                batch.terminated[:, sl],
                batch.task[sl],
                batch.log_mu[:, sl],
            )
            losses = agent.world_model_losses(part, generator=generator)
            B = part.action.shape[1]
            for k in sums:
                sums[k] += float(losses[k]) * B
    if was_training:
        m.train()
    out = {k: v / n_total for k, v in sums.items()}
    out["fit"] = o.consistency_coef * out["consistency"] + o.reward_coef * out["reward_loss"]
    out["total"] = out["fit"] + o.value_coef * out["value_loss"]
    out["windows"] = float(n_total)
    return out
