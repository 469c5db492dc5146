"""Bring your own robot: a URDF written here becomes reach/track tasks; bad URDFs fail clearly."""

import numpy as np
import pytest

from m3po_learning.envs import JointLimit, UrdfError, make_env
from m3po_learning.envs.registry import make_robot_task

LINK = """
  <link name="{name}">
    <inertial><origin xyz="0 0 0.1"/><mass value="0.5"/>
      <inertia ixx="0.002" iyy="0.002" izz="0.0002" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.1"/><geometry><box size="0.04 0.04 0.2"/></geometry></collision>
  </link>"""
JOINT = """
  <joint name="{name}" type="{type}">
    <parent link="{parent}"/><child link="{child}"/>
    <origin xyz="0 0 {z}"/><axis xyz="{axis}"/>
    <limit lower="-1.5" upper="1.5" effort="{effort}" velocity="2.0"/>
  </joint>"""


def _write_arm(tmp_path, efforts=(5.0, 4.0, 2.0), name="testbot"):
    links = "".join(LINK.format(name=n) for n in ("base", "l1", "l2", "l3"))
    joints = "".join(
        JOINT.format(name=f"j{i + 1}", type="revolute", parent=p, child=c, z=z, axis=ax, effort=e)
        for i, (p, c, z, ax, e) in enumerate(
            zip(
                ("base", "l1", "l2"),
                ("l1", "l2", "l3"),
                (0.05, 0.2, 0.2),
                ("0 0 1", "0 1 0", "0 1 0"),
                efforts,
                strict=True,
            )
        )
    )
    tip = '<link name="tip"/><joint name="tip_fixed" type="fixed"><parent link="l3"/>'
    tip += '<child link="tip"/><origin xyz="0 0 0.2"/></joint>'
    path = tmp_path / f"{name}.urdf"
    path.write_text(f'<?xml version="1.0"?>\n<robot name="{name}">{links}{joints}{tip}</robot>\n')
    return path


@pytest.mark.parametrize("task", ["reach", "track"])
def test_user_urdf_becomes_a_task(tmp_path, task):
    path = _write_arm(tmp_path)
    name = make_robot_task(path, task=task)
    assert name == f"testbot/{task}"
    env = make_env(name, seed=0)
    assert env.spec.joint_names == ("j1", "j2", "j3")
    assert env.observation_spec.frame_names == ("tip",)
    limits = env.joint_limits()
    assert limits["j2"] == JointLimit("j2", effort=4.0, velocity=2.0, position=(-1.5, 1.5))
    obs, _ = env.reset()
    rewards = []
    for a in np.random.default_rng(0).uniform(-1, 1, (150, 3)):
        obs, r, terminated, truncated, _ = env.step(a)
        assert np.all(np.isfinite(obs)) and 0.0 <= r <= 1.0
        rewards.append(r)
    names, pos, vel, _ = env.joint_state()
    built = env.observation_spec.build(
        dict(zip(names, pos, strict=True)), dict(zip(names, vel, strict=True)), env.task_inputs()
    )
    np.testing.assert_allclose(built, obs, atol=1e-6)
    assert np.ptp(rewards) > 0


def test_passive_joints_are_not_actuated(tmp_path):
    name = make_robot_task(_write_arm(tmp_path, efforts=(5.0, 0.0, 2.0), name="halfbot"))
    assert make_env(name).spec.joint_names == ("j1", "j3")


def test_urdf_without_actuated_joints_is_refused(tmp_path):
    path = _write_arm(tmp_path, efforts=(0.0, 0.0, 0.0), name="limp")
    with pytest.raises(UrdfError, match="no actuated joints"):
        make_robot_task(path)


def test_urdf_mujoco_cannot_load_is_refused(tmp_path):
    path = tmp_path / "broken.urdf"
    path.write_text(
        '<robot name="broken"><link name="a"/><joint name="j" type="revolute">'
        '<parent link="a"/><child link="missing"/><limit effort="1" velocity="1" lower="-1" '
        'upper="1"/></joint></robot>'
    )
    with pytest.raises(UrdfError, match="MuJoCo cannot"):
        make_robot_task(path)


def test_not_xml_and_missing_file_are_refused(tmp_path):
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot name='x'><link></robot>")
    with pytest.raises(UrdfError, match="not valid XML"):
        make_robot_task(bad)
    with pytest.raises(UrdfError, match="does not exist"):
        make_robot_task(tmp_path / "nothing.urdf")
    with pytest.raises(ValueError, match="reach"):
        make_robot_task(_write_arm(tmp_path), task="juggle")


def test_hold_pushes_the_end_effector_away_from_where_it_started(tmp_path):
    """`hold` for a user's arm: the goal is the start; pushes on the end effector move it."""
    import mujoco

    name = make_robot_task(_write_arm(tmp_path, name="holdbot"), task="hold")
    env = make_env(name, seed=2)
    env.reset(seed=2)
    task = env.task
    assert task.mode == "hold" and task.push_body == "tip" and task.push_force_n > 0
    ee = env.robot.frame_body_ids["tip"]
    np.testing.assert_allclose(env.task_inputs()["goal"], env.robot.data.xpos[ee], atol=1e-9)
    pushed = 0
    for _ in range(100):  # two seconds at zero effort: a push lands every 0.4-1.2 s
        env.step(np.zeros(3))
        pushed += bool(np.any(env.robot.data.xfrc_applied[env.model.body("tip").id] != 0))
    mujoco.mj_kinematics(env.model, env.robot.data)
    assert pushed > 0
    assert np.linalg.norm(env.robot.data.xpos[ee] - env.task_inputs()["goal"]) > 0.01


def _write_arm6(tmp_path, name="sixbot"):
    axes = ("0 0 1", "0 1 0", "0 1 0", "1 0 0", "0 1 0", "1 0 0")
    links = "".join(LINK.format(name=n) for n in ("base", *(f"l{i}" for i in range(1, 7))))
    joints = "".join(
        JOINT.format(name=f"j{i}", type="revolute", parent="base" if i == 1 else f"l{i - 1}",
                     child=f"l{i}", z=0.05 if i == 1 else 0.2, axis=ax, effort=4.0)
        for i, ax in enumerate(axes, start=1)
    )  # fmt: skip
    tip = '<link name="flange"/><joint name="flange_fixed" type="fixed"><parent link="l6"/>'
    tip += '<child link="flange"/><origin xyz="0 0 0.2"/></joint>'
    path = tmp_path / f"{name}.urdf"
    path.write_text(f'<?xml version="1.0"?>\n<robot name="{name}">{links}{joints}{tip}</robot>\n')
    return path


def test_pose_for_a_six_joint_arm_observes_orientation_through_virtual_frames(tmp_path):
    name = make_robot_task(_write_arm6(tmp_path), task="pose")
    env = make_env(name, seed=4)
    obs, _ = env.reset(seed=4)
    assert name == "sixbot/pose" and env.spec.action_dim == 6
    assert env.observation_spec.frame_names == ("flange", "flange_m3po_x", "flange_m3po_z")
    assert set(env.task_inputs()) == {"goal", "goal_x", "goal_z"}
    # the controller's observation, built from JointState and the inputs with the URDF's
    # kinematics plus the same virtual frames, is the env's, bit for bit
    names, pos, vel, _ = env.joint_state()
    built = env.observation_spec.build(
        dict(zip(names, pos, strict=True)), dict(zip(names, vel, strict=True)), env.task_inputs()
    )
    np.testing.assert_array_equal(built, obs)
    x = env.robot.data.xpos[env.robot.frame_body_ids["flange_m3po_x"]]
    ee = env.robot.data.xpos[env.robot.frame_body_ids["flange"]]
    assert np.linalg.norm(x - ee) == pytest.approx(0.1)
    err = env.task.orientation_error(env.robot)
    assert 0.0 <= err <= np.pi
    with pytest.raises(ValueError, match="pose' needs at least 6 actuated joints"):
        make_robot_task(_write_arm(tmp_path, name="threebot"), task="pose")
