"""Stable-Baselines3 runs on our gymnasium envs, and its SAC learns more than random.

SB3's own env checker passes and a short SAC run goes through in `make test`; the learning
check (about 40 s: SAC on pendulum/balance for 5000 steps) is a `learning_outcome` test,
run by `make test-learning`. bench/sb3_baseline.py records the baseline at a fixed budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.env_checker import check_env

import m3po_learning.gym as m3po_gym

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from sb3_baseline import evaluate, run  # noqa: E402


@pytest.mark.parametrize("task", ["arm2/reach", "arm2/reach@position", "dmc/cartpole-swingup"])
def test_sb3_env_checker_and_a_short_sac_run(task):
    env = gym.make(m3po_gym.env_id(task))
    check_env(env.unwrapped, warn=True)
    model = SAC("MlpPolicy", env, seed=0, learning_starts=50, policy_kwargs={"net_arch": [32]})
    model.learn(120)
    ret = evaluate(m3po_gym.env_id(task), lambda o: model.predict(o)[0], 1, 0)
    assert np.isfinite(ret)


@pytest.mark.learning_outcome
def test_sac_learns_pendulum_balance_beyond_random():
    (*_, last) = run("pendulum/balance", 5000, 5000, 5, seed=0)
    assert last["return"] > 3 * last["random_return"], last
