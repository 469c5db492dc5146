"""MetaWorld v3 through the registry on this project's MuJoCo (3.17): every task, success metric.

MetaWorld 3.1.1 is built for mujoco 3.3.0; its mocap weld reset is adapted for 3.17's wider
`eq_data` rows (envs/metaworld.py). Its own scripted expert policies succeeding on MT10 is
what shows the adapted hand moves as MetaWorld intends.
"""

import metaworld
import numpy as np
import pytest
from metaworld.policies import ENV_POLICY_MAP

from m3po_learning.envs import VectorEnv, make_env
from m3po_learning.envs.metaworld import mt10_names, task_names
from m3po_learning.envs.registry import TaskSetError, resolve_tasks, task_kind


def test_every_metaworld_task_constructs_steps_and_resets():
    names = task_names()
    assert len(names) == 50 and all(n.startswith("mw/") and n.endswith("-v3") for n in names)
    rng = np.random.default_rng(0)
    for name in names:
        assert task_kind(name) == "metaworld"
        env = make_env(name, seed=1)
        spec = env.spec
        assert (spec.obs_dim, spec.action_dim, spec.episode_length) == (39, 4, 100), name
        obs, info = env.reset()
        assert obs.shape == (39,) and obs.dtype == np.float32 and np.isfinite(obs).all(), name
        assert info["success"] is False
        for _ in range(3):
            obs, r, terminated, truncated, info = env.step(rng.uniform(-1, 1, 4))
            assert np.isfinite(obs).all() and 0.0 <= r <= 20.0, name
            assert not terminated and not truncated
            assert isinstance(info["success"], bool) and "episode_success" in info
        env.close()


def test_reset_gives_a_new_goal_and_a_seed_repeats_it():
    env = make_env("mw/reach-v3", seed=0)
    goals = [env.reset()[0][36:] for _ in range(3)]
    assert not np.allclose(goals[0], goals[1]) and not np.allclose(goals[1], goals[2])
    a = env.reset(seed=5)[0]
    b = env.reset(seed=5)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", mt10_names())
def test_metaworld_expert_succeeds_on_the_adapted_mujoco(name):
    """MetaWorld's scripted policy solves each MT10 task here: the weld adaptation is right."""
    env = make_env(name, seed=0)
    policy = ENV_POLICY_MAP[name.removeprefix("mw/")]()
    successes = 0
    for _ in range(2):
        obs, _ = env.reset()
        steps = 0
        truncated = False
        while not truncated:
            obs, _, _, truncated, info = env.step(policy.get_action(obs.astype(np.float64)))
            steps += 1
        assert steps == 100
        successes += info["episode_success"]
    assert successes >= 1, f"{name}: MetaWorld's expert failed both episodes"
    # ... and a zero action does not succeed at reaching (the metric is not always true)
    if name == "mw/reach-v3":
        env.reset()
        for _ in range(100):
            _, _, _, _, info = env.step(np.zeros(4))
        assert not info["episode_success"]


def test_the_weld_rows_are_the_wider_mujoco_layout():
    """The adaptation exists because of this; if MuJoCo changes again, this names it."""
    import mujoco

    env = make_env("mw/push-v3", seed=0)
    welds = env.model.eq_type == mujoco.mjtEq.mjEQ_WELD
    assert welds.any() and env.model.eq_data.shape[1] == mujoco.mjNEQDATA == 12
    np.testing.assert_array_equal(env.model.eq_data[welds][:, 10:], [[5.0, 0.0]] * welds.sum())
    assert metaworld.__file__  # the real package, not a stand-in


def test_wrong_metaworld_names_are_refused_with_the_list():
    with pytest.raises(TaskSetError, match="did you mean 'mw/reach-v3'.*mw/assembly-v3"):
        make_env("mw/reech-v3")
    with pytest.raises(TaskSetError, match="keep their own actuators"):
        task_kind("mw/reach-v3@position")
    with pytest.raises(ValueError, match="URDF robots only"):
        make_env("mw/reach-v3", randomize=True)


def test_task_sets_and_vector_env_report_success_at_episode_end():
    assert resolve_tasks(["mt10"]) == mt10_names()
    assert resolve_tasks(["mt50"]) == task_names()
    venv = VectorEnv(["mw/reach-v3", "pendulum/swingup"], seed=0)
    venv.reset()
    n_mw = venv.specs[0].episode_length
    actions = np.zeros((2, venv.action_dim), np.float32)
    for t in range(n_mw):
        _, _, term, trunc, info = venv.step(actions)
        if t < n_mw - 1:
            assert np.isnan(info["episode_success"]).all()
    assert trunc[0] and info["episode_success"][0] in (0.0, 1.0)
    assert np.isnan(info["episode_success"][1])  # the pendulum has no success metric
    venv.close()
