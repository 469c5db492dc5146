"""Who acts in training (the measured planner/policy gap) and parallel evaluation."""

import numpy as np
import pytest

from m3po_learning.acting import PlannerSchedule
from m3po_learning.config import ExplorationConfig, load_config
from m3po_learning.evaluation import evaluate


def schedule(**kw):
    return PlannerSchedule(ExplorationConfig(**kw), num_tasks=2, world_model=True, seed=0)


def test_planner_acts_until_the_policy_has_caught_up():
    s = schedule(probe_frac=0.0, gap_window=3, gap_tolerance=0.05)
    assert s.choose(np.array([0, 1])).all()  # nothing measured: the planner acts
    for _ in range(3):
        s.record(0, True, 500.0)
        s.record(0, False, 200.0)  # far behind: keep planning
    assert s.choose(np.array([0])).all()
    for _ in range(3):
        s.record(0, False, 490.0)  # within 5% of the planner now
    assert not s.choose(np.array([0])).any()
    assert s.choose(np.array([1])).all()  # the other task is not measured: it still plans
    assert s.stats()["explore/policy_caught_up"] == pytest.approx(0.5)


def test_probes_keep_both_returns_measured():
    s = schedule(probe_frac=0.2)
    picks = np.concatenate([s.choose(np.array([0, 1])) for _ in range(500)])
    assert 0.7 < picks.mean() < 0.9  # about 20% of episodes go to the policy


def test_fixed_modes():
    assert not schedule(planner="never").choose(np.array([0, 1])).any()
    assert schedule(planner="always", probe_frac=0.5).choose(np.array([0, 1] * 20)).all()
    s = schedule(planner="anneal", alpha_min=0.0, alpha_anneal_frac=0.5)
    s.progress = 1.0
    assert not s.choose(np.array([0, 1] * 20)).any() and s.per_step()
    off = PlannerSchedule(ExplorationConfig(), 2, world_model=False, seed=0)
    assert not off.choose(np.array([0, 1])).any()


def test_parallel_evaluation_runs_every_episode_once():
    from m3po_learning.agent import M3POAgent
    from m3po_learning.envs import VectorEnv

    cfg = load_config(
        None,
        [
            "model.preset=tiny",
            "planner.num_samples=32",
            "planner.num_elites=8",
            "planner.iterations=1",
            "planner.num_pi_trajs=4",
        ],
    )
    tasks = ["pendulum/swingup", "cartpole/balance"]
    env = VectorEnv(tasks)
    agent = M3POAgent(cfg, env.specs, device="cpu")
    env.close()
    per_episode: dict = {}
    means = evaluate(agent, tasks, episodes=3, use_planner=True, per_episode=per_episode)
    assert set(means) == set(tasks)
    for t in tasks:
        assert len(per_episode[t]) == 3
        assert means[t] == pytest.approx(np.mean(per_episode[t]))
        assert len(set(np.round(per_episode[t], 6))) > 1  # each episode its own seed
    assert not any(k >= 10_000 for k in agent._prev_mean)  # eval warm starts cleaned up
    with pytest.raises(ValueError, match="episodes=0"):
        evaluate(agent, tasks, episodes=0)
