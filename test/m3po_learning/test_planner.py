"""MPPI on analytic latent models whose optimum is known."""

import time

import pytest
import torch

from m3po_learning.config import PlannerConfig
from m3po_learning.planner import LatentModel, MPPIPlanner


class QuadraticModel(LatentModel):
    """Reward -(a - target)^2 on the valid dims; dynamics ignore actions; no terminal value."""

    def __init__(self, target: torch.Tensor, delay_s: float = 0.0):
        self.target = target
        self.delay_s = delay_s

    def next(self, z, a, emb):
        return z

    def reward_value(self, z, a, emb):
        if self.delay_s:
            time.sleep(self.delay_s)
        return -((a - self.target) ** 2).sum(-1)

    def terminal_value(self, z, emb, mask, generator=None):
        return torch.zeros(z.shape[0])

    def policy_action(self, z, emb, mask, generator):
        return torch.zeros(z.shape[0], self.target.shape[-1])


def _plan(cfg, target, mask, prev=None, budget_ms=None, seed=0, model=None):
    planner = MPPIPlanner(cfg, action_dim=target.shape[-1])
    g = torch.Generator().manual_seed(seed)
    B = mask.shape[0]
    model = model or QuadraticModel(target)
    return planner.plan(
        model,
        torch.zeros(B, 8),
        None,
        mask,
        torch.full((B,), 0.99),
        prev_mean=prev,
        explore=False,
        deadline=None if budget_ms is None else time.perf_counter() + budget_ms * 1e-3,
        generator=g,
    )


MEAN = PlannerConfig(final_action="mean")


def test_finds_known_optimum():
    target = torch.tensor([0.37, -0.52, 0.8])
    res = _plan(MEAN, target, torch.ones(2, 3))
    assert res.iterations == 6
    assert res.action.shape == (2, 3)
    assert torch.allclose(res.action, target.expand(2, 3), atol=0.05)
    assert torch.allclose(res.mean, target.expand(2, 3, 3), atol=0.08)


def test_elite_final_action_is_one_good_elite():
    target = torch.tensor([0.37, -0.52, 0.8])
    res = _plan(PlannerConfig(), target, torch.ones(2, 3))
    torch.testing.assert_close(res.action, res.center)  # no noise outside training
    assert torch.allclose(res.action, target.expand(2, 3), atol=0.25)
    assert not torch.allclose(res.action, res.mean[:, 0], atol=1e-4)  # an elite, not the mean


def test_respects_bounds_and_masks():
    target = torch.tensor([1.7, -3.0, 0.5])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    res = _plan(MEAN, target, mask)
    assert res.action.abs().max() <= 1.0
    assert torch.allclose(res.action[:, :2], torch.tensor([1.0, -1.0]).expand(2, 2), atol=0.05)
    assert res.action[0, 2] == 0.0  # masked dimension is never commanded
    assert abs(res.action[1, 2] - 0.5) < 0.05
    assert (res.std >= PlannerConfig().min_std - 1e-6).all()
    assert (res.std <= PlannerConfig().max_std + 1e-6).all()


def test_warm_start_shifts_previous_plan():
    target = torch.tensor([0.6])
    cfg = PlannerConfig(iterations=1, num_samples=64, num_pi_trajs=0, num_elites=8, max_std=0.5)
    cold = [
        abs(float(_plan(cfg, target, torch.ones(1, 1), seed=s).mean[0, 1, 0]) - 0.6)
        for s in range(10)
    ]
    prev = torch.full((1, 3, 1), 0.6)
    warm = [
        abs(float(_plan(cfg, target, torch.ones(1, 1), prev=prev, seed=s).mean[0, 1, 0]) - 0.6)
        for s in range(10)
    ]
    assert sum(warm) < 0.5 * sum(cold)


def test_same_seed_same_plan():
    target = torch.tensor([0.2, 0.1])
    a = _plan(PlannerConfig(), target, torch.ones(3, 2), seed=5).action
    b = _plan(PlannerConfig(), target, torch.ones(3, 2), seed=5).action
    c = _plan(PlannerConfig(), target, torch.ones(3, 2), seed=6).action
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def _plan_once(planner, model, deadline):
    one = torch.ones(1, 1)
    return planner.plan(
        model, torch.zeros(1, 8), None, one, torch.tensor([0.99]), deadline=deadline
    )


def test_deadline_returns_best_so_far():
    target = torch.tensor([0.3])
    # Each iteration costs ~3 x 10 ms; 45 ms from now cannot fit all 10 iterations.
    model = QuadraticModel(target, delay_s=0.010)
    cfg = PlannerConfig(iterations=10, final_action="mean")
    res = _plan(cfg, target, torch.ones(1, 1), budget_ms=45.0, model=model)
    assert 1 <= res.iterations < 10
    assert abs(float(res.action[0, 0]) - 0.3) < 0.3
    # A deadline already past still returns an action: the policy proposal, zero iterations.
    planner = MPPIPlanner(cfg, action_dim=1)
    res0 = _plan_once(planner, model, time.perf_counter() - 1.0)
    assert res0.iterations == 0
    assert res0.action.shape == (1, 1)
    # No deadline: every iteration runs, whatever the estimate says.
    planner.iteration_ms = 1e6
    assert _plan_once(planner, model, None).iterations == 10


def test_iteration_estimate_rises_at_once_and_settles_slowly():
    """The planner's one estimator: a slower iteration is believed at once, faster ones slowly."""
    planner = MPPIPlanner(PlannerConfig(), action_dim=1)
    planner._measured(2.0)
    assert planner.iteration_ms == 2.0
    planner._measured(8.0)  # preempted: the next deadlines must account for it
    assert planner.iteration_ms == 8.0
    planner._measured(2.0)
    assert 2.0 < planner.iteration_ms < 8.0
    for _ in range(200):
        planner._measured(2.0)
    assert planner.iteration_ms == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("bad", [{"num_elites": 10_000}, {"min_std": 3.0}, {"horizon": 0}])
def test_bad_planner_config_rejected(bad):
    from m3po_learning.config import ConfigError

    with pytest.raises(ConfigError):
        PlannerConfig(**bad)


def test_inflated_iteration_estimate_recovers():
    """One slow (preempted) iteration must not switch deadline planning off for good."""
    target = torch.tensor([0.3])
    planner = MPPIPlanner(PlannerConfig(iterations=3), action_dim=1)
    planner.iteration_ms = 500.0  # as after an iteration preempted for half a second
    model = QuadraticModel(target)
    its = [_plan_once(planner, model, time.perf_counter() + 0.020).iterations for _ in range(40)]
    assert its[0] == 0
    assert its[-1] >= 1
