"""Held-out split: blocks never overlap training, cover every transition; windows and loss."""

import numpy as np
import pytest

from m3po_learning.agent import M3POAgent
from m3po_learning.config import load_config
from m3po_learning.datasets import Episode
from m3po_learning.training.holdout import split_holdout, windows_batch, world_model_loss
from m3po_learning.types import EnvSpec


def _episode(T: int, start: int = 0) -> Episode:
    """obs[t, 0] = start + t, so every piece says which transitions it holds."""
    obs = np.zeros((T + 1, 3), np.float32)
    obs[:, 0] = start + np.arange(T + 1)
    return Episode(
        obs,
        np.zeros((T, 2), np.float32),
        (start + np.arange(T)).astype(np.float32),
        np.zeros(T, np.float32),
        np.arange(T + 1) * 0.02,
        "bag",
    )


def test_blocks_are_held_out_apart_and_everything_is_kept():
    episodes = [_episode(230), _episode(90, start=1000)]
    train, held = split_holdout(episodes, frac=0.2, min_len=3, block=25)
    train_steps = np.concatenate([e.reward for e in train])
    held_steps = np.concatenate([e.reward for e in held])
    assert not set(train_steps) & set(held_steps)
    everything = np.concatenate([e.reward for e in episodes])
    assert sorted(np.concatenate([train_steps, held_steps])) == sorted(everything)
    # every 5th block (the middle one of each five) is held out: 25..., then 150...
    assert [int(e.reward[0]) for e in held[:2]] == [50, 175]
    assert all(len(e) == 25 for e in held[:2])
    for e in train + held:  # pieces are consecutive and keep their own next observation
        np.testing.assert_array_equal(e.obs[1:, 0], e.obs[:-1, 0] + 1)
        assert len(e.obs) == len(e) + 1 and len(e.time_s) == len(e) + 1


def test_no_holdout_and_short_blocks_go_to_training():
    episodes = [_episode(40)]
    train, held = split_holdout(episodes, frac=0.0, min_len=3)
    assert held == [] and len(train) == 1
    train, held = split_holdout([_episode(60)], frac=0.5, min_len=11, block=10)
    assert all(len(e) >= 11 for e in held)  # blocks of 10 < min_len: none held out
    assert held == [] and sum(len(e) for e in train) == 60


@pytest.fixture(scope="module")
def agent():
    cfg = load_config(None, ["model.preset=tiny", "train.tasks=[toy/a]"])
    return M3POAgent(cfg, [EnvSpec("toy/a", 3, 2, 100, joint_names=("a", "b"))], device="cpu")


def test_windows_cover_every_start_and_can_be_thinned(agent):
    episodes = [_episode(10), _episode(6, start=100)]
    H = 3
    batch = windows_batch(agent, episodes, task_id=0, horizon=H)
    assert batch.obs.shape == (H + 1, (10 - H + 1) + (6 - H + 1), agent.obs_dim)
    assert batch.action.shape[:2] == (H, batch.obs.shape[1]) and (batch.task == 0).all()
    np.testing.assert_array_equal(batch.reward[:, 0].numpy(), [0, 1, 2])
    thin = windows_batch(agent, episodes, task_id=0, horizon=H, limit=4)
    assert thin.obs.shape[1] == 4
    assert windows_batch(agent, [_episode(2)], task_id=0, horizon=H) is None


def test_world_model_loss_is_deterministic_and_chunk_free(agent):
    batch = windows_batch(agent, [_episode(40)], task_id=0, horizon=3)
    a = world_model_loss(agent, batch)
    b = world_model_loss(agent, batch, chunk=7)
    assert a.keys() == {"consistency", "reward_loss", "value_loss", "fit", "total", "windows"}
    assert a["windows"] == 38.0 and np.isfinite(a["total"])
    assert world_model_loss(agent, batch) == a  # same seed, no dropout: the same numbers
    for k in ("consistency", "reward_loss", "fit"):
        assert b[k] == pytest.approx(a[k], rel=1e-5), k
    assert agent.model.training  # put back in training mode
