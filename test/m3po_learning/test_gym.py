"""The gymnasium front end: gymnasium's own checker on every task, as a user would make them."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import m3po_learning.gym as m3po_gym

TASKS = m3po_gym.suite_tasks()


def test_every_suite_task_is_registered():
    assert len(TASKS) == 23  # 14 built-in robot tasks + 9 DMControl reference tasks
    for task in TASKS:
        assert m3po_gym.env_id(task) in gym.registry, task
    assert m3po_gym.env_id("arm2/reach") == "m3po/arm2-reach-v0"


# Observations are joint readings, velocities and goals: unbounded, so the Box says so, and
# the checker's advice about infinite bounds is the one warning allowed.
ALLOWED = ("observation space minimum value is -infinity", "observation space maximum value is")


def checked(env, **kw) -> None:
    """Gymnasium's check_env; fails on any warning but the infinite-bounds advice."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, **kw)
    other = [str(w.message) for w in caught if not any(a in str(w.message) for a in ALLOWED)]
    assert not other, other


@pytest.mark.parametrize("task", TASKS)
def test_gymnasium_env_checker_passes(task):
    env = gym.make(m3po_gym.env_id(task))
    try:
        checked(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_module_colon_id_form_imports_and_renders():
    env = gym.make("m3po_learning.gym:m3po/arm2-reach-v0", render_mode="rgb_array")
    try:
        checked(env.unwrapped)  # with the render check
        obs, _ = env.reset(seed=3)
        again, _ = env.reset(seed=3)
        np.testing.assert_array_equal(obs, again)
        frame = env.render()
        assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and frame.std() > 0
    finally:
        env.close()


def test_episodes_truncate_at_the_task_length():
    env = gym.make("m3po/pendulum-swingup-v0")
    env.reset(seed=0)
    length = env.unwrapped.env.spec.episode_length
    steps, truncated = 0, False
    while not truncated:
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert isinstance(reward, float) and not terminated
        steps += 1
    assert steps == length


def test_registration_does_not_import_mujoco():
    """MuJoCo reads MUJOCO_GL once, on import: registering must leave that to the user."""
    code = "import sys, m3po_learning.gym; sys.exit(int('mujoco' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_make_vec_steps_copies_with_same_step_autoreset():
    envs = gym.make_vec("m3po/arm2-reach-v0", num_envs=3, vectorization_mode="vector_entry_point")
    try:
        assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
        obs, info = envs.reset(seed=7)
        assert obs.shape == envs.observation_space.shape and obs.dtype == np.float32
        again, _ = envs.reset(seed=7)
        np.testing.assert_array_equal(obs, again)
        assert not np.array_equal(obs[0], obs[1])  # env i is seeded with seed + i
        length = envs.unwrapped.vec.specs[0].episode_length
        for _ in range(length):
            obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert obs.shape == (3, envs.single_observation_space.shape[0])
            assert reward.shape == (3,) and envs.observation_space.contains(obs)
        assert truncated.all() and info["_final_obs"].all()
        assert not np.array_equal(info["final_obs"], obs)  # obs is the next episode's first
        assert (info["episode_length"] == length).all()
    finally:
        envs.close()


def test_vector_env_mixes_tasks_with_padding_masks():
    envs = m3po_gym.M3POVectorEnv(tasks=["arm2/reach", "pendulum/swingup"], seed=1)
    try:
        obs, info = envs.reset(seed=1)
        masks = info["obs_mask"]
        assert obs.shape == masks.shape and (obs[~masks] == 0).all()
        assert info["action_mask"].sum(1).tolist() == [2, 1]
        obs, reward, *_ = envs.step(envs.action_space.sample())
        assert (obs[~masks] == 0).all() and np.isfinite(reward).all()
    finally:
        envs.close()
