"""The ROS-side builder reproduces the env observation from JointState + task inputs."""

import numpy as np
import pytest

from m3po_learning.envs import builtin_tasks, make_env

TASKS = builtin_tasks()


def _build_from_ros_view(env):
    names, pos, vel, _ = env.joint_state()
    # A JointState may list joints in any order: shuffle to prove lookup is by name.
    order = np.random.default_rng(0).permutation(len(names))
    positions = {names[i]: float(pos[i]) for i in order}
    velocities = {names[i]: float(vel[i]) for i in order}
    return env.observation_spec.build(positions, velocities, env.task_inputs())


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("reality_gap", [None, "noisy"])
def test_build_matches_env_observation(task, reality_gap):
    env = make_env(task, seed=4, reality_gap=reality_gap)
    obs, _ = env.reset()
    np.testing.assert_allclose(_build_from_ros_view(env), obs, atol=1e-6, rtol=0)
    actions = np.random.default_rng(1).uniform(-1, 1, (80, env.spec.action_dim))
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(a)
        np.testing.assert_allclose(_build_from_ros_view(env), obs, atol=1e-6, rtol=0)
        if terminated or truncated:
            obs, _ = env.reset()


@pytest.mark.parametrize("task", TASKS)
def test_spec_names_match_robot(task):
    env = make_env(task)
    spec = env.observation_spec
    robot_joints = set(env.joint_state()[0])
    assert set(spec.joint_names) <= robot_joints
    assert set(spec.input_names) == set(env.task_inputs())
    assert spec.obs_dim == env.spec.obs_dim


def test_build_reports_missing_joints():
    env = make_env("arm2/reach")
    env.reset()
    with pytest.raises(KeyError, match="elbow"):
        env.observation_spec.build({"shoulder": 0.0}, {"shoulder": 0.0}, env.task_inputs())
