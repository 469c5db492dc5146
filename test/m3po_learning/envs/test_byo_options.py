"""A user's robot: end effector and gravity compensation per entry; its URDF in the checkpoint.

The URDF (and the meshes it names by relative paths) travel inside the checkpoint.
"""

import shutil
import struct

import mujoco
import numpy as np
import pytest
from test_byo import _write_arm

from m3po_learning.checkpoint import CheckpointError, load_agent, save_checkpoint
from m3po_learning.config import load_config
from m3po_learning.envs import make_env
from m3po_learning.envs.registry import (
    RobotEntry,
    TaskSetError,
    parse_robot_entry,
    register_robots,
    robot_entry,
)


def _settle(env, q2: float, steps: int = 25) -> float:
    """Hold joint j2 at `q2` with zero effort for `steps` control steps; how far it moves."""
    env.reset(seed=0)
    j = env.model.joint("j2")
    env.data.qpos[:] = 0.0
    env.data.qvel[:] = 0.0
    env.data.qpos[j.qposadr[0]] = q2
    mujoco.mj_forward(env.model, env.data)
    for _ in range(steps):
        env.step(np.zeros(env.spec.action_dim))
    return abs(float(env.data.qpos[j.qposadr[0]]) - q2)


def test_gravity_compensation_off_leaves_gravity_acting(tmp_path):
    urdf = _write_arm(tmp_path, name="gravbot")
    on = make_env(register_robots([robot_entry(urdf, "reach")])[0])
    assert (on.model.body_gravcomp == 1.0).sum() >= 5  # every link (the goal marker: none)
    moved_on = _settle(on, 0.8)
    off = make_env(register_robots([robot_entry(urdf, "reach", gravity_compensation=False)])[0])
    assert not off.model.body_gravcomp.any()
    moved_off = _settle(off, 0.8)
    # Tilted 0.8 rad with no torque: compensated, the arm stays; uncompensated, it falls.
    assert moved_on < 0.01, moved_on
    assert moved_off > 0.3, moved_off


def test_end_effector_is_chosen_by_name(tmp_path):
    urdf = _write_arm(tmp_path, name="eebot")
    (name,) = register_robots([robot_entry(urdf, "track", end_effector="l2")])
    assert make_env(name).observation_spec.frame_names == ("l2",)
    with pytest.raises(ValueError, match="end-effector link 'hand' not found"):
        register_robots([robot_entry(urdf, "reach", end_effector="hand")])


def test_robot_entries_round_trip_and_refuse_unknown_options(tmp_path):
    urdf = str((tmp_path / "a:b" / "bot.urdf").resolve())
    entry = RobotEntry(urdf, "reach", end_effector="tool", gravity_compensation=False)
    assert str(entry) == f"{urdf}:reach,end_effector=tool,gravity_compensation=off"
    assert parse_robot_entry(str(entry)) == entry
    assert parse_robot_entry(f"{urdf}:track") == RobotEntry(urdf, "track")
    with pytest.raises(TaskSetError, match="'gripper=1' is not one of end_effector="):
        parse_robot_entry(f"{urdf}:reach,gripper=1")
    with pytest.raises(TaskSetError, match="gravity_compensation='maybe', use on or off"):
        parse_robot_entry(f"{urdf}:reach,gravity_compensation=maybe")


def _binary_stl(path, size=0.03) -> None:
    """A cube as a binary STL: 12 triangles."""
    s = size / 2
    v = np.array([[x, y, z] for x in (-s, s) for y in (-s, s) for z in (-s, s)], np.float32)
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]  # fmt: skip
    data = bytearray(b"\0" * 80 + struct.pack("<I", len(faces)))
    for f in faces:
        data += struct.pack("<3f", 0, 0, 0) + v[list(f)].tobytes() + b"\0\0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def test_checkpoint_carries_urdf_and_relative_meshes(tmp_path):
    robot_dir = tmp_path / "my_robot"
    robot_dir.mkdir()
    urdf = _write_arm(robot_dir, name="meshbot")
    _binary_stl(robot_dir / "meshes" / "tip.stl")
    text = urdf.read_text().replace(
        '<link name="tip"/>',
        '<link name="tip"><collision><geometry><mesh filename="meshes/tip.stl"/></geometry>'
        "</collision></link>",
    )
    urdf.write_text(text)
    entry = robot_entry(urdf, "reach")
    (name,) = register_robots([entry])
    env = make_env(name)
    assert env.model.nmesh == 1
    cfg = load_config(None, ["model.preset=tiny", f"train.robots=[{entry}]", "train.tasks=[]"])
    from m3po_learning.agent import M3POAgent

    agent = M3POAgent(cfg, [env.spec], device="cpu")
    ck = save_checkpoint(tmp_path / "ck", agent, step=3, include_optimizer=False)
    assert (ck / "robots" / "0" / "meshbot.urdf").read_text() == text
    assert (ck / "robots" / "0" / "meshes" / "tip.stl").is_file()

    shutil.rmtree(robot_dir)  # the robot's computer has no copy of the robot's files
    moved = tmp_path / "elsewhere" / "ck"
    shutil.copytree(ck, moved)
    shutil.rmtree(ck)
    loaded = load_agent(moved, device="cpu")
    assert loaded.cfg.train.robots[0].startswith(str(moved / "robots" / "0" / "meshbot.urdf"))
    assert make_env(name).model.nmesh == 1  # built from the checkpoint's copies
    obs = np.ones((1, agent.obs_dim), np.float32)
    np.testing.assert_array_equal(
        agent.act(obs, [name], explore=False, use_planner=False).action,
        loaded.act(obs, [name], explore=False, use_planner=False).action,
    )
    # A saved-again checkpoint (finetuning on the robot) copies the copies.
    again = save_checkpoint(tmp_path / "again", loaded, step=4, include_optimizer=False)
    assert (again / "robots" / "0" / "meshes" / "tip.stl").is_file()

    # The copies are hashed like the weights.
    (moved / "robots" / "0" / "meshbot.urdf").write_text(text.replace("2.0", "9.0"))
    with pytest.raises(CheckpointError, match="meshbot.urdf fails its sha256 check"):
        load_agent(moved, device="cpu")
