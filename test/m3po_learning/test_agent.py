"""Agent shapes, masks, determinism, and that every loss falls on a fixed batch."""

import numpy as np
import pytest
import torch

from m3po_learning.agent import M3POAgent, Segment
from m3po_learning.config import load_config
from m3po_learning.types import Batch, EnvSpec

SPECS = [
    EnvSpec("toy/a", obs_dim=5, action_dim=1, episode_length=100),
    EnvSpec("toy/b", obs_dim=8, action_dim=3, episode_length=400),
]
SMALL = [
    "model.preset=tiny",
    "planner.num_samples=64",
    "planner.num_elites=16",
    "planner.iterations=3",
    "planner.num_pi_trajs=8",
    "optim.batch_size=32",
]


def make_agent(extra=(), seed=1):
    cfg = load_config(None, [*SMALL, f"train.seed={seed}", *extra])
    return M3POAgent(cfg, SPECS, device="cpu")


def fixed_batch(agent, B=32, H=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    task = torch.randint(0, 2, (B,), generator=g)
    act = (torch.rand(H, B, agent.action_dim, generator=g) * 2 - 1) * agent.model.mask(task)
    obs = torch.randn(H + 1, B, agent.obs_dim, generator=g)
    obs[..., 5:] *= (task == 1).float()[None, :, None]  # padding of the 5-dim task is zero
    # a learnable world: reward is a function of obs and action
    rew = torch.tanh(obs[:-1, :, 0] + act[..., 0])
    return Batch(obs, act, rew, torch.zeros(H, B), task, torch.zeros(H, B))


def test_shapes_masks_and_discounts():
    agent = make_agent()
    assert agent.obs_dim == 8 and agent.action_dim == 3
    assert agent.model.action_masks.tolist() == [[1, 0, 0], [1, 1, 1]]
    d = agent.model.discounts.tolist()
    assert d[0] < d[1]  # longer episodes get a larger discount
    obs = np.random.randn(4, 8).astype(np.float32)
    for planner in (False, True):
        out = agent.act(
            obs, ["toy/a", "toy/b", "toy/a", "toy/b"], explore=True, use_planner=planner
        )
        assert out.action.shape == (4, 3) and out.log_mu.shape == (4,)
        assert np.all(out.action[[0, 2], 1:] == 0.0)  # masked dims are zero
        assert np.all(np.abs(out.action) <= 1.0)
        assert np.all(np.isfinite(out.log_mu))
        assert out.planned.all() == planner


def test_bad_inputs_named():
    agent = make_agent()
    with pytest.raises(ValueError, match=r"expected \(B, 8\)"):
        agent.act(np.zeros((2, 5), np.float32), ["toy/a", "toy/a"])
    with pytest.raises(KeyError, match="unknown task 'toy/zzz'"):
        agent.act(np.zeros((1, 8), np.float32), ["toy/zzz"])
    with pytest.raises(ValueError, match="NaN"):
        agent.pad_obs(np.array([0, 1, np.nan, 0, 0]), "toy/a")
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        agent.pad_obs(np.zeros(4), "toy/a")


def test_same_seed_same_actions():
    obs = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        agent = make_agent(seed=7)
        runs.append(
            [agent.act(obs, [0, 1], explore=True, use_planner=True).action for _ in range(3)]
        )
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_world_model_losses_fall_on_fixed_batch():
    torch.manual_seed(0)
    agent = make_agent(["optim.lr=1e-3"])
    batch = fixed_batch(agent)
    first = agent.update_world_model(batch)
    for _ in range(60):
        last = agent.update_world_model(batch)
    assert last["wm/reward_loss"] < 0.7 * first["wm/reward_loss"]
    assert last["wm/value_loss"] < 0.7 * first["wm/value_loss"]
    assert last["wm/total"] < first["wm/total"]


def test_policy_update_moves_toward_high_advantage_actions():
    torch.manual_seed(0)
    agent = make_agent(["policy.epochs=8", "policy.target_kl=10", "policy.lr=1e-3"])
    T, N = 64, 2
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(T, N, 8, generator=g)
    act = torch.rand(T, N, 3, generator=g) * 2 - 1
    act[:, 0, 1:] = 0
    reward = -(act[..., 0] - 0.5).abs()  # best action dim 0 = 0.5
    task = torch.tensor([0, 1])
    mask = agent.model.mask(task)
    with torch.no_grad():
        z = agent.model.encode(obs, agent.model.embed(task).expand(T, -1, -1))
        lp = agent.model.pi.log_prob(
            agent.model._cat(z, agent.model.embed(task).expand(T, -1, -1)),
            act,
            mask.expand(T, -1, -1),
        )
    ones = torch.ones(T, N)  # one-step episodes: the advantage is r - V(s), no credit noise
    seg = Segment(obs, torch.randn(T, N, 8, generator=g), act, reward, ones, ones, lp, task)

    def mean_action():
        with torch.no_grad():
            x = agent.model._cat(z, agent.model.embed(task).expand(T, -1, -1))
            return torch.tanh(agent.model.pi.dist_params(x)[0][..., 0]).mean()

    before = mean_action()
    for _ in range(5):
        m = agent.update_policy(seg)
    after = mean_action()
    assert abs(after - 0.5) < abs(before - 0.5) - 0.1
    for key in ("explore/epsilon_mean", "explore/bonus_std", "explore/beta", "pi/kl", "v/loss"):
        assert np.isfinite(m[key])
    assert m["explore/beta"] == pytest.approx(0.5)


def test_model_free_baseline_has_no_world_model_updates():
    agent = make_agent(["model.world_model=false", "explore.beta0=0"])
    assert agent.update_world_model(fixed_batch(agent)) == {}
    out = agent.act(np.zeros((1, 8), np.float32), [1], use_planner=True)
    assert not out.planned.any() and out.iterations == 0
