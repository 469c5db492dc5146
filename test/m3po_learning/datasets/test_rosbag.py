"""Bags written by the rosbags writer -> transitions equal to what the env computed."""

from __future__ import annotations

import numpy as np
import pytest

from m3po_learning.datasets import AlignOptions, BagError, load_bag_dataset, load_topic_map
from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag

TASK = "arm2/reach"


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_transitions_equal_env_rollout(tmp_path, storage):
    # Jittered delivery, header stamps on another clock (sim time), messages out of order.
    opts = SimBagOptions(
        storage=storage,
        jitter_ns=4_000_000,
        stamp_offset_ns=1_699_999_990 * 10**9,
        shuffle_frac=0.1,
    )
    roll = write_sim_bag(tmp_path / "bag", TASK, 320, seed=3, options=opts)
    ds = load_bag_dataset([tmp_path / "bag"], TASK, progress=False)
    # 150-step episodes; the transition across each reset is never produced.
    assert [len(e) for e in ds.episodes] == [149, 149, 19]
    start = 0
    for e in ds.episodes:
        T = len(e)
        np.testing.assert_allclose(e.obs, roll["obs"][start : start + T + 1], atol=1e-5)
        np.testing.assert_allclose(e.action, roll["action"][start : start + T], atol=1e-6)
        np.testing.assert_allclose(e.reward, roll["reward"][start : start + T], atol=1e-6)
        assert not e.terminated.any()
        start += 150
    assert ds.stats["messages"] == roll["messages"]


@pytest.mark.parametrize("task", ["arm2/reach@position", "arm2/reach@velocity"])
def test_setpoint_bags_give_back_the_actions(tmp_path, task):
    """A position/velocity robot's bag records setpoints; actions come back relative to q."""
    roll = write_sim_bag(tmp_path / "bag", task, 160, seed=2)
    ds = load_bag_dataset([tmp_path / "bag"], task, progress=False)
    (e,) = [e for e in ds.episodes if len(e) == 149]
    np.testing.assert_allclose(e.action, np.clip(roll["action"][:149], -1, 1), atol=1e-6)
    np.testing.assert_allclose(e.obs, roll["obs"][:150], atol=1e-5)


def test_joint_trajectory_bags_of_a_position_robot(tmp_path):
    """Commands recorded as JointTrajectory (a JointTrajectoryController's topic)."""
    task = "arm2/reach@position"
    roll = write_sim_bag(
        tmp_path / "bag", task, 160, seed=2, options=SimBagOptions(trajectory=True)
    )
    ds = load_bag_dataset([tmp_path / "bag"], task, progress=False)
    (e,) = [e for e in ds.episodes if len(e) == 149]
    np.testing.assert_allclose(e.action, np.clip(roll["action"][:149], -1, 1), atol=1e-6)
    with pytest.raises(BagError, match="JointTrajectory position setpoints.*effort-driven"):
        load_bag_dataset([tmp_path / "bag"], "arm2/reach", progress=False)


def test_fixed_rate_and_gaps(tmp_path):
    opts = SimBagOptions(episode_steps=100, gap_after_episode_s=0.5)
    write_sim_bag(tmp_path / "bag", TASK, 200, seed=1, options=opts)
    ds = load_bag_dataset([tmp_path / "bag"], TASK, progress=False)
    assert [len(e) for e in ds.episodes] == [99, 99]  # split at the 0.5 s gap
    half = load_bag_dataset(
        [tmp_path / "bag"], TASK, options=AlignOptions(rate_hz=25.0), progress=False
    )
    assert 90 <= half.num_transitions <= 108  # ticks every 40 ms instead of 20 ms
    tight = load_bag_dataset(
        [tmp_path / "bag"], TASK, options=AlignOptions(max_gap_s=1.0), progress=False
    )
    assert len(tight.episodes) == 2  # the goal jump at the reset still splits


def test_directory_of_bags_with_remapped_namespace(tmp_path):
    for i in range(2):
        write_sim_bag(
            tmp_path / "bags" / f"run{i}",
            TASK,
            60,
            seed=i,
            options=SimBagOptions(topic_prefix="/arm", storage=("mcap", "sqlite3")[i]),
        )
    tmap = load_topic_map(None, ["namespace=arm"])
    ds = load_bag_dataset([tmp_path / "bags"], TASK, topic_map=tmap, progress=False)
    assert ds.stats["bags"] == 2 and ds.num_transitions == 2 * 59
    explicit = load_topic_map(
        None,
        [
            "commands=/arm/joint_commands",
            "joint_states=/arm/joint_states",
            "inputs.goal=/arm/goal",
        ],
    )
    assert (
        load_bag_dataset(
            [tmp_path / "bags"], TASK, topic_map=explicit, progress=False
        ).num_transitions
        == 2 * 59
    )


# -- bad input ---------------------------------------------------------------------------------
def test_truncated_mcap_reads_complete_chunks(tmp_path, caplog):
    bag = tmp_path / "bag"
    write_sim_bag(bag, TASK, 300, options=SimBagOptions(chunk_messages=90))  # 30 ticks a chunk
    mcap = next(bag.glob("*.mcap"))
    (bag / "metadata.yaml").unlink()  # a killed recorder writes no metadata
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.55)])  # and no summary, footer, last chunks
    ds = load_bag_dataset([bag], TASK, progress=False)
    assert any("truncated" in w for w in ds.warnings)
    assert ds.stats["messages"] % 90 == 0 and 90 <= ds.stats["messages"] < 900
    assert ds.num_transitions >= ds.stats["messages"] // 3 - 3
    mcap.write_bytes(data[:20])  # nothing but the header left
    with pytest.raises(BagError, match="empty"):
        load_bag_dataset([bag], TASK, progress=False)


def test_missing_topic_lists_what_the_bag_has(tmp_path):
    write_sim_bag(tmp_path / "bag", TASK, 20)
    tmap = load_topic_map(None, ["commands=/robot/effort_commands"])
    with pytest.raises(BagError, match="effort_commands") as err:
        load_bag_dataset([tmp_path / "bag"], TASK, topic_map=tmap, progress=False)
    assert "/joint_states [sensor_msgs/msg/JointState" in str(err.value)
    assert "/joint_commands" in str(err.value)


def test_unsupported_message_type(tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    write_sim_bag(tmp_path / "good", TASK, 5)
    with Writer(tmp_path / "bad", version=9) as w:
        c = w.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=ts)
        s = w.add_connection("/joint_commands", "std_msgs/msg/String", typestore=ts)
        g = w.add_connection("/goal", "geometry_msgs/msg/PointStamped", typestore=ts)
        w.write(
            s,
            1,
            ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="go"), "std_msgs/msg/String"),
        )
        for conn in (c, g):
            w.write(conn, 2, b"\x00\x01\x00\x00" + bytes(60))
    with pytest.raises(BagError, match="std_msgs/msg/String.*supported"):
        load_bag_dataset([tmp_path / "bad"], TASK, progress=False)


def test_joint_names_must_match(tmp_path):
    write_sim_bag(
        tmp_path / "bag", TASK, 20, options=SimBagOptions(joint_names=("joint_a", "joint_b"))
    )
    with pytest.raises(BagError, match="do not match.*shoulder"):
        load_bag_dataset([tmp_path / "bag"], TASK, progress=False)
    write_sim_bag(tmp_path / "ok", TASK, 20)
    with pytest.raises(BagError, match="checkpoint drives joints"):
        load_bag_dataset(
            [tmp_path / "ok"], TASK, joint_names=("elbow", "shoulder"), progress=False
        )


def test_empty_bag_and_empty_directory(tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    with Writer(tmp_path / "empty", version=9) as w:
        w.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=ts)
    with pytest.raises(BagError, match="empty"):
        load_bag_dataset([tmp_path / "empty"], TASK, progress=False)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(BagError, match="holds no rosbag2 bag"):
        load_bag_dataset([tmp_path / "nothing"], TASK, progress=False)
