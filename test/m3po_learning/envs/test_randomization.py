"""Domain randomisation and reality-gap variants really change the physics and sensors."""

import numpy as np
import pytest

from m3po_learning.envs import (
    Randomization,
    load_randomization,
    make_env,
    reality_gap_variants,
)


def _trajectory(env, actions, seed=0):
    env.reset(seed=seed)
    return np.stack([env.step(a)[0] for a in actions])


@pytest.mark.parametrize("task", ["pendulum/swingup", "arm7/reach"])
def test_randomised_model_parameters_change_per_episode(task):
    env = make_env(task, seed=0, randomize=True)
    nominal = make_env(task, seed=0)
    draws = []
    for _ in range(3):
        env.reset()
        draws.append(
            np.concatenate(
                [env.model.body_mass, env.model.dof_damping, env.model.actuator_gear[:, 0]]
            )
        )
    base = np.concatenate(
        [nominal.model.body_mass, nominal.model.dof_damping, nominal.model.actuator_gear[:, 0]]
    )
    assert not np.allclose(draws[0], base)
    assert not np.allclose(draws[0], draws[1]) and not np.allclose(draws[1], draws[2])
    robot_bodies = env.model.body_mass > 0
    ratio = draws[0][: env.model.nbody][robot_bodies] / nominal.model.body_mass[robot_bodies]
    assert np.all((ratio >= 0.8 - 1e-9) & (ratio <= 1.2 + 1e-9))


def test_same_actions_give_different_trajectories_under_randomisation():
    actions = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    # Physics only (no sensor noise), so differences come from masses, gains, friction.
    physics_only = {"mass_scale": [0.5, 1.5], "actuator_gain_scale": [0.5, 1.5]}
    nominal = _trajectory(make_env("arm2/reach"), actions)
    randomised = _trajectory(make_env("arm2/reach", randomize=physics_only), actions)
    # Same seed -> same initial state and goal (obs[9:12]); only the physics differs.
    first_nominal = make_env("arm2/reach").reset(seed=0)[0]
    first_randomised = make_env("arm2/reach", randomize=physics_only).reset(seed=0)[0]
    np.testing.assert_array_equal(first_nominal, first_randomised)
    np.testing.assert_array_equal(nominal[:, 9:12], randomised[:, 9:12])
    assert np.abs(nominal - randomised).max() > 1e-2


@pytest.mark.parametrize("variant", sorted(reality_gap_variants()))
def test_every_reality_gap_variant_changes_the_rollout(variant):
    actions = np.random.default_rng(1).uniform(-1, 1, (40, 7))
    nominal = _trajectory(make_env("arm7/reach"), actions)
    gap = _trajectory(make_env("arm7/reach", reality_gap=variant), actions)
    assert np.abs(nominal - gap).max() > 1e-3, f"reality gap {variant!r} changed nothing"


def test_heavy_variant_scales_masses_exactly():
    env = make_env("arm2/reach", reality_gap="heavy")
    nominal = make_env("arm2/reach")
    env.reset()
    np.testing.assert_allclose(env.model.body_mass, 1.3 * nominal.model.body_mass)


def test_actuation_delay_shifts_the_response():
    env = make_env("pendulum/balance", reality_gap="delayed")
    assert env.reset()[1]["params"]["action_delay_s"] == pytest.approx(0.02)
    nominal = make_env("pendulum/balance")
    nominal.reset()
    kick = np.array([1.0])
    moved = nominal.step(kick)[0][2] - env.step(kick)[0][2]
    assert abs(moved) > 1e-3  # the delayed motor has not pushed yet


def test_config_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="unknown keys.*gravity_scale"):
        load_randomization({"gravity_scale": 2.0})
    with pytest.raises(ValueError, match="mass_scale"):
        load_randomization({"mass_scale": [1.2, 0.8]})
    path = tmp_path / "dr.yaml"
    path.write_text("mass_scale: [0.9, 1.1]\n")
    assert load_randomization(path) == Randomization(mass_scale=(0.9, 1.1))
    with pytest.raises(KeyError, match="known"):
        make_env("arm2/reach", reality_gap="martian")
