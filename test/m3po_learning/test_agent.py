"""Agent shapes, masks, determinism, and that every loss falls on a fixed batch."""

import numpy as np
import pytest
import torch

from m3po_learning.agent import M3POAgent, Segment
from m3po_learning.config import load_config
from m3po_learning.types import Batch, EnvSpec
from m3po_learning.updates import diag_gaussian_kl

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
    agent = make_agent(
        [
            "policy.actor=ppo",
            "explore.beta0=0.5",
            "model.init=torch",
            "policy.epochs=8",
            "policy.target_kl=10",
            "policy.lr=1e-3",
        ]
    )
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
    agent = make_agent(["model.world_model=false", "explore.beta0=0", "policy.actor=ppo"])
    assert agent.update_world_model(fixed_batch(agent)) == {}
    out = agent.act(np.zeros((1, 8), np.float32), [1], use_planner=True)
    assert not out.planned.any() and out.iterations == 0


def test_model_free_baseline_needs_the_ppo_actor():
    with pytest.raises(ValueError, match="needs policy.actor=ppo"):
        make_agent(["model.world_model=false"])


def _random_q(agent, seed=0):
    """Give the Q ensemble a non-trivial output layer (zero at init) so Q depends on a."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = agent.model.qs.out.weight
        w.copy_(torch.randn(w.shape, generator=g) * 0.5)


def _latents(agent, T=4, B=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    task = torch.randint(0, 2, (B,), generator=g)
    obs = torch.randn(T, B, agent.obs_dim, generator=g)
    with torch.no_grad():
        zs = agent.model.encode(obs, agent.model.embed(task).expand(T, -1, -1))
    return zs, task


def _pi_q_and_dist(agent, zs, task):
    m = agent.model
    T, B, _ = zs.shape
    z = zs.reshape(T * B, -1)
    e = m.embed(task).expand(T, -1, -1).reshape(T * B, -1)
    mask = m.mask(task).expand(T, -1, -1).reshape(T * B, -1)
    with torch.no_grad():
        out = m.policy(z, e, mask, deterministic=True)
        q = m.q_value(z, out.action, e, generator=torch.Generator().manual_seed(0))
    return float(q.mean()), out.mean, out.log_std, mask


@pytest.mark.parametrize("bound", [0.02, 0.002])
def test_actor_update_raises_q_within_the_kl_bound(bound):
    torch.manual_seed(0)
    agent = make_agent(["model.dropout=0", f"policy.target_kl={bound}", "policy.lr=3e-3"])
    _random_q(agent)
    zs, task = _latents(agent)
    q0 = _pi_q_and_dist(agent, zs, task)[0]
    for _ in range(30):
        _, mean0, log_std0, mask = _pi_q_and_dist(agent, zs, task)
        stats = agent.update_actor(zs, task)
        _, mean1, log_std1, _ = _pi_q_and_dist(agent, zs, task)
        kl = float(diag_gaussian_kl(mean0, log_std0, mean1, log_std1, mask).mean())
        assert kl <= bound * 1.0001, f"step left the trust region: KL {kl} > {bound}"
        assert stats["pi/kl"] == pytest.approx(kl, rel=1e-3, abs=1e-7)
    assert _pi_q_and_dist(agent, zs, task)[0] > q0 + 0.05


def test_without_the_bound_the_same_steps_leave_it():
    torch.manual_seed(0)
    agent = make_agent(["model.dropout=0", "policy.trust_region=false", "policy.lr=3e-3"])
    _random_q(agent)
    zs, task = _latents(agent)
    kls = [agent.update_actor(zs, task)["pi/kl"] for _ in range(30)]
    assert max(kls) > 0.002  # so the bounded test above really constrains the step


def _agree_disagree_batch(agent, B=32, H=3):
    """A batch whose first half of columns agrees with a fresh model and second half does not.

    Fresh heads predict 0 reward and 0 value, so Q_MB = 0 and Q_MF = r: columns with r = 0
    agree with the model exactly, columns with r = 1 disagree.
    """
    g = torch.Generator().manual_seed(3)
    task = torch.zeros(B, dtype=torch.long)
    obs = torch.randn(H + 1, B, agent.obs_dim, generator=g)
    obs[..., 5:] = 0
    act = (torch.rand(H, B, agent.action_dim, generator=g) * 2 - 1) * agent.model.mask(task)
    reward = torch.zeros(H, B)
    reward[:, B // 2 :] = 1.0
    return Batch(obs, act, reward, torch.zeros(H, B), task, torch.zeros(H, B))


def test_bonus_changes_the_q_target_only_where_model_and_data_disagree():
    agent = make_agent(["explore.beta0=0.5"])
    batch = _agree_disagree_batch(agent)
    m, B = agent.model, batch.reward.shape[1]
    with torch.no_grad():
        z = m.encode(batch.obs, m.embed(batch.task).expand(4, -1, -1))
        gap = agent.value_gap(batch, z[:-1], z[1:])
        targets = []
        for intrinsic in (None, agent.beta * gap["bonus"]):
            g = torch.Generator().manual_seed(0)
            losses = agent.world_model_losses(batch, generator=g, intrinsic=intrinsic)
            targets.append(losses["td_target"])
    np.testing.assert_allclose(gap["epsilon"][:, : B // 2], 0.0, atol=1e-6)
    assert (gap["epsilon"][:, B // 2 :] > 0.5).all()
    delta = targets[1] - targets[0]
    np.testing.assert_allclose(delta[:, : B // 2], 0.0, atol=1e-6)
    assert (delta[:, B // 2 :] > 0.1).all()
    assert (delta <= agent.beta * agent.cfg.explore.clip + 1e-6).all()


def test_no_bonus_trains_a_different_q_than_m3po():
    batch = _agree_disagree_batch(make_agent())
    q = []
    for beta in (0.0, 0.5):
        torch.manual_seed(0)
        agent = make_agent([f"explore.beta0={beta}"])
        for _ in range(5):
            agent.update(batch)
        with torch.no_grad():
            m = agent.model
            z = m.encode(batch.obs[0], m.embed(batch.task))
            q.append(m.two_hot.decode(m.q_logits(z, batch.action[0], m.embed(batch.task))))
    assert not torch.allclose(q[0], q[1])


@pytest.mark.parametrize("k", [1, 3])
def test_qmb_rollout_runs(k):
    agent = make_agent([f"explore.qmb_rollout={k}"])
    stats = agent.update(fixed_batch(agent))
    for key in ("q/mb_mean", "explore/epsilon_mean", "wm/total", "pi/kl", "v/loss"):
        assert np.isfinite(stats[key]), key


def test_target_qs_never_use_dropout():
    agent = make_agent(["model.dropout=0.5"])
    agent.model.train()
    assert agent.model.qs.training and not agent.model.target_qs.training
    x = torch.randn(16, agent.model.qs.l1.weight.shape[1])
    with torch.no_grad():
        a, b = agent.model.target_qs(x), agent.model.target_qs(x)
    torch.testing.assert_close(a, b)


def test_warm_start_per_env_after_mixed_planner_and_policy_ticks():
    agent = make_agent()
    seen = []
    plan = agent.planner.plan

    def recording_plan(*args, **kwargs):
        seen.append(kwargs["prev_mean"])
        return plan(*args, **kwargs)

    agent.planner.plan = recording_plan
    obs = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    tasks = [0, 1]
    agent.act(obs, tasks, use_planner=np.array([True, False]))  # slot 0 plans, slot 1 acts
    assert seen[-1] is None  # nothing stored yet: a cold start
    stored0 = agent._prev_mean[0].clone()
    assert 1 not in agent._prev_mean
    agent.act(obs, tasks, use_planner=np.array([True, True]))
    prev = seen[-1]
    assert prev.shape[0] == 2
    torch.testing.assert_close(prev[0], stored0)  # slot 0 keeps its own plan
    assert torch.count_nonzero(prev[1]) == 0  # slot 1 had none: zeros, not a dropped batch
    stored1 = agent._prev_mean[1].clone()
    agent.act(obs, tasks, use_planner=np.array([False, True]))  # the policy acts in slot 0
    assert 0 not in agent._prev_mean  # that plan is stale now
    agent.act(obs, tasks, use_planner=np.array([True, True]))
    prev = seen[-1]
    assert torch.count_nonzero(prev[0]) == 0
    assert torch.count_nonzero(prev[1]) > 0 and not torch.equal(prev[1], stored1)


def test_elite_final_action_differs_from_the_mean_and_stays_in_bounds():
    obs = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    acts = {}
    for mode in ("elite", "mean"):
        torch.manual_seed(0)
        agent = make_agent([f"planner.final_action={mode}"])
        acts[mode] = agent.act(obs, [0, 1, 1], explore=False, use_planner=True).action
        assert np.all(np.abs(acts[mode]) <= 1.0)
    assert not np.allclose(acts["elite"], acts["mean"])
