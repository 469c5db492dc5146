"""Every built-in task: spec conformance, determinism, reset spread, sane long rollouts."""

import math

import numpy as np
import pytest

from m3po_learning.envs import builtin_tasks, load_task_set, make_env
from m3po_learning.types import EnvSpec

TASKS = builtin_tasks()


def _random_actions(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, dim))


@pytest.mark.parametrize("task", TASKS)
def test_spec_conformance(task):
    env = make_env(task, seed=0)
    spec = env.spec
    assert isinstance(spec, EnvSpec) and spec.task == task
    assert spec.action_dim == len(spec.joint_names) == env.model.nu
    assert spec.obs_dim == sum(size for _, size in spec.obs_parts)
    assert spec.obs_parts == env.observation_spec.parts
    assert 100 <= spec.episode_length <= 500 and 0.02 <= spec.control_dt <= 0.05
    lo, hi = spec.reward_range
    obs, info = env.reset()
    assert obs.shape == (spec.obs_dim,) and obs.dtype == np.float32
    steps = 0
    for _ in range(spec.episode_length):
        steps += 1
        obs, reward, terminated, truncated, info = env.step(np.zeros(spec.action_dim))
        assert obs.shape == (spec.obs_dim,) and obs.dtype == np.float32
        assert isinstance(reward, float) and lo <= reward <= hi
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        if terminated:
            break
    assert terminated or (truncated and steps == spec.episode_length)


@pytest.mark.parametrize("task", TASKS)
def test_deterministic_under_seed(task):
    runs = []
    for _ in range(2):
        env = make_env(task, seed=7)
        obs = [env.reset()[0]]
        for a in _random_actions(60, env.spec.action_dim):
            obs.append(env.step(a)[0])
        runs.append(np.stack(obs))
    np.testing.assert_array_equal(runs[0], runs[1])
    other = make_env(task, seed=8)
    assert not np.array_equal(other.reset()[0], runs[0][0])


@pytest.mark.parametrize("task", TASKS)
def test_initial_states_are_randomised(task):
    env = make_env(task, seed=0)
    firsts = np.stack([env.reset()[0] for _ in range(5)])
    assert np.all(np.ptp(firsts, axis=0).max() > 1e-3)
    assert len({tuple(row) for row in firsts}) == 5


@pytest.mark.parametrize("task", TASKS)
def test_long_random_rollout_is_finite_and_varied(task):
    env = make_env(task, seed=1)
    obs, _ = env.reset()
    lo, hi = env.spec.reward_range
    all_obs, rewards = [], []
    for a in _random_actions(1000, env.spec.action_dim, seed=3):
        obs, reward, terminated, truncated, _ = env.step(a)
        assert np.all(np.isfinite(obs)), f"{task}: non-finite observation {obs}"
        assert math.isfinite(reward) and lo <= reward <= hi
        all_obs.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            env.reset()
    all_obs = np.stack(all_obs)
    assert np.ptp(all_obs, axis=0).max() > 1e-2, f"{task}: observations never change"
    assert np.ptp(rewards) > 0.0


@pytest.mark.parametrize("task", TASKS)
def test_out_of_range_actions_are_clipped(task):
    env = make_env(task, seed=2)
    env.reset()
    big = env.step(np.full(env.spec.action_dim, 50.0))[0]
    env2 = make_env(task, seed=2)
    env2.reset()
    one = env2.step(np.ones(env.spec.action_dim))[0]
    np.testing.assert_array_equal(big, one)


def test_default_task_set_is_every_builtin_task():
    assert load_task_set("default") == builtin_tasks()
    assert len(builtin_tasks()) >= 12


@pytest.mark.parametrize("task", TASKS)
def test_reset_with_seed_repeats_the_episode(task):
    env = make_env(task, seed=0, randomize=True)
    actions = _random_actions(30, env.spec.action_dim)
    runs = []
    for _ in range(2):
        obs = [env.reset(seed=11)[0]]
        obs += [env.step(a)[0] for a in actions]
        runs.append(np.stack(obs))
    np.testing.assert_array_equal(runs[0], runs[1])
