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
    assert len(TASKS) == 22  # 13 built-in robot tasks + 9 DMControl reference tasks
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
