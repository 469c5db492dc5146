"""VectorEnv: padding, masks, same-step auto-reset."""

import numpy as np
import pytest

from m3po_learning.envs import VectorEnv, make_env


def test_padding_masks_and_shapes():
    tasks = ["pendulum/swingup", "arm2/reach"]
    venv = VectorEnv(tasks, seed=0)
    assert venv.obs_dim == max(s.obs_dim for s in venv.specs)
    assert venv.action_dim == 2
    np.testing.assert_array_equal(venv.action_masks, [[True, False], [True, True]])
    obs = venv.reset()
    assert obs.shape == (2, venv.obs_dim) and obs.dtype == np.float32
    assert np.all(obs[0, venv.specs[0].obs_dim :] == 0.0)
    obs, reward, terminated, truncated, info = venv.step(np.zeros((2, 2)))
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    assert info["final_obs"].shape == obs.shape


def test_rows_match_single_envs_and_masked_dims_are_ignored():
    tasks = ["pendulum/swingup", "arm2/track"]
    venv = VectorEnv(tasks, seed=3)
    singles = [make_env(t, seed=3 + i) for i, t in enumerate(tasks)]
    obs = venv.reset()
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i, : env.spec.obs_dim], env.reset()[0])
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.uniform(-1, 1, (2, 2))  # actions[0, 1] is masked out
        obs, reward, *_ = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, *_ = env.step(actions[i, : env.spec.action_dim])
            np.testing.assert_array_equal(obs[i, : env.spec.obs_dim], o)
            assert reward[i] == pytest.approx(r, rel=1e-6)


def test_same_step_auto_reset_keeps_final_obs():
    venv = VectorEnv(["arm2/reach"], seed=0)
    single = make_env("arm2/reach", seed=0)
    venv.reset()
    single.reset()
    length = venv.specs[0].episode_length
    for _ in range(length):
        obs, reward, terminated, truncated, info = venv.step(np.zeros((1, 2)))
        last, *_ = single.step(np.zeros(2))
    assert truncated[0] and not terminated[0]
    np.testing.assert_array_equal(info["final_obs"][0], last)
    assert not np.array_equal(obs[0], last)  # the next episode's first observation
    assert info["episode_length"][0] == length
