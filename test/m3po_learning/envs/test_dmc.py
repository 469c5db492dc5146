"""The DMControl adapter: protocol (action repeat 2, 1000 env steps), spec, determinism."""

import numpy as np
import pytest

from m3po_learning.envs import VectorEnv, make_env
from m3po_learning.envs.dmc import parse_dmc_name


def test_cheetah_run_protocol_and_observation():
    env = make_env("dmc/cheetah-run", seed=0)
    spec = env.spec
    assert spec.episode_length == 500 and spec.action_dim == 6 and spec.obs_dim == 17
    assert spec.control_dt == pytest.approx(0.02) and spec.reward_range == (0.0, 2.0)
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (17,)
    total, steps = 0.0, 0
    rng = np.random.default_rng(0)
    while True:
        obs, r, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 6))
        assert 0.0 <= r <= 2.0 and np.all(np.isfinite(obs))
        total += r
        steps += 1
        if terminated or truncated:
            break
    assert steps == 500 and truncated and not terminated
    assert env._env.physics.data.time == pytest.approx(10.0)  # 1000 steps of 0.01 s
    assert 0.0 <= total <= 1000.0
    names, pos, vel, _ = env.joint_state()
    built = env.observation_spec.build(
        dict(zip(names, pos, strict=True)), dict(zip(names, vel, strict=True)), {}
    )
    np.testing.assert_allclose(built, obs, atol=1e-6)


def test_dmc_is_deterministic_and_vectorises():
    a = make_env("dmc/cup-catch", seed=3)
    b = make_env("dmc/cup-catch", seed=3)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    venv = VectorEnv(["dmc/cup-catch", "pendulum/swingup"], seed=0)
    obs = venv.reset()
    assert obs.shape == (2, venv.obs_dim) and venv.action_dim == 2
    obs, reward, *_ = venv.step(np.zeros((2, 2)))
    assert reward.shape == (2,)


def test_dmc_names_and_errors():
    assert parse_dmc_name("dmc/cup-catch") == ("ball_in_cup", "catch")
    assert parse_dmc_name("dmc/finger-turn-easy") == ("finger", "turn_easy")
    with pytest.raises(ValueError, match="unknown DMC task"):
        make_env("dmc/cheetah-fly")
    with pytest.raises(ValueError, match="URDF robots only"):
        make_env("dmc/cheetah-run", randomize=True)
