"""Swing-up and balance for a user's URDF: an under-powered pendulum written here."""

import math

import numpy as np
import pytest

from m3po_learning.envs import make_env
from m3po_learning.envs.registry import make_robot_task

PENDULUM = """<?xml version="1.0"?>
<robot name="{name}">
  <link name="base"><inertial><mass value="2"/>
    <inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="pole"><inertial><origin xyz="0 0 -0.5"/><mass value="1"/>
    <inertia ixx="0.02" iyy="0.02" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><origin xyz="0 0 -0.5"/><geometry><cylinder radius="0.02" length="1.0"/></geometry>
    </visual></link>
  <link name="tip"/>
  <joint name="pivot" type="continuous"><parent link="base"/><child link="pole"/>
    <origin xyz="0 0 1.5"/><axis xyz="0 1 0"/><limit effort="{effort}" velocity="12"/>
    <dynamics damping="0.01"/></joint>
  <joint name="tip_fixed" type="fixed"><parent link="pole"/><child link="tip"/>
    <origin xyz="0 0 -1.0"/></joint>
</robot>
"""
HOLDING_TORQUE = 1.0 * 9.81 * 0.5  # N m: 1 kg at 0.5 m, horizontal


def write_pendulum(tmp_path, effort=2.0, name="upend"):
    path = tmp_path / f"{name}.urdf"
    path.write_text(PENDULUM.format(effort=effort, name=name))
    return path


def test_swingup_of_an_underpowered_pendulum_starts_hanging(tmp_path):
    urdf = write_pendulum(tmp_path)
    assert 2.0 < HOLDING_TORQUE  # it cannot be lifted straight up: it has to pump
    name = make_robot_task(urdf, "swingup")
    env = make_env(name, seed=0)
    assert name == "upend/swingup" and env.spec.episode_length == 250
    assert env.observation_spec.parts == (("pole_sincos", 2), ("joint_vel", 1))
    assert not env.model.body_gravcomp[1:].any()  # swings are trained with gravity acting
    task = env.task
    assert task.poles == ("pivot",) and task.reach == pytest.approx(1.0, abs=0.01)
    assert abs(abs(task.up[0]) - math.pi) < 0.05 and abs(task.down[0]) < 0.05
    env.reset(seed=0)
    assert task.upright(env.robot) < -0.95  # hanging
    returns = {}
    for policy in ("zero", "full"):
        env.reset(seed=0)
        total, peak = 0.0, -1.0
        for _ in range(env.spec.episode_length):
            a = np.zeros(1) if policy == "zero" else np.ones(1)
            _, r, term, trunc, _ = env.step(a)
            total += r
            peak = max(peak, task.upright(env.robot))
            assert 0.0 <= r <= 1.0 and not term
        returns[policy] = (total, peak)
    assert returns["zero"][1] < -0.95  # nothing moves it
    assert returns["full"][1] < 0.0  # full torque one way never gets it above horizontal


def test_balance_falls_without_control_and_upright_is_rewarded(tmp_path):
    name = make_robot_task(write_pendulum(tmp_path, name="upbal"), "balance")
    env = make_env(name, seed=1)
    obs, _ = env.reset(seed=1)
    assert env.task.upright(env.robot) > math.cos(0.25)
    _, first, *_ = env.step(np.zeros(1))
    assert first > 0.9
    steps = 0
    for steps in range(1, 201):  # noqa: B007 - the step it fell at is the check
        _, r, term, trunc, _ = env.step(np.zeros(1))
        if term:
            break
    assert term and steps < 150, "an unpowered inverted pendulum must fall"


def test_swing_tasks_refuse_gravity_compensation_and_bad_chains(tmp_path):
    urdf = write_pendulum(tmp_path, name="upref")
    with pytest.raises(ValueError, match="nothing to swing up or balance against"):
        make_robot_task(urdf, "swingup", gravity_compensation=True)
    flat = tmp_path / "flat.urdf"  # axis along gravity: the tip's height never changes
    flat.write_text(urdf.read_text().replace('<axis xyz="0 1 0"/>', '<axis xyz="0 0 1"/>'))
    with pytest.raises(ValueError, match="does not change"):
        make_robot_task(flat, "balance")
