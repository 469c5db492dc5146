"""Goals are read as of the joint state's stamp, so a tick never pairs two instants."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from m3po_ros.stamped_inputs import StampedInputs, stamp_ns


def test_stamp_ns_of_a_ros_time():
    assert stamp_ns(Time(sec=3, nanosec=25)) == 3_000_000_025
    assert stamp_ns(Time()) == 0


def test_goal_as_of_the_joint_stamp_not_the_newest():
    inputs = StampedInputs()
    for k in (1, 2, 3):
        inputs.add("goal", k * 10, np.full(3, float(k)))
    # the joint state of instant 2 arrived; the goal of instant 3 is already here
    assert inputs.as_of(20)["goal"][0] == 2.0
    assert inputs.as_of(25)["goal"][0] == 2.0
    assert inputs.as_of(30)["goal"][0] == 3.0
    assert inputs.as_of(99)["goal"][0] == 3.0


def test_out_of_order_arrivals_pick_by_stamp():
    inputs = StampedInputs()
    inputs.add("goal", 30, np.full(3, 3.0))
    inputs.add("goal", 10, np.full(3, 1.0))
    inputs.add("goal", 20, np.full(3, 2.0))
    assert inputs.as_of(25)["goal"][0] == 2.0


def test_unstamped_or_too_new_goal_falls_back_to_latest():
    inputs = StampedInputs()
    inputs.add("goal", 50, np.full(3, 5.0))
    assert inputs.as_of(10)["goal"][0] == 5.0  # every goal is newer than the state
    assert inputs.as_of(0)["goal"][0] == 5.0  # joint state unstamped
    inputs.add("goal", 0, np.full(3, 7.0))
    assert inputs.as_of(60)["goal"][0] == 7.0  # the latest goal is unstamped


def test_history_is_bounded():
    inputs = StampedInputs(depth=2)
    for k in range(1, 6):
        inputs.add("goal", k, np.full(3, float(k)))
    assert inputs.as_of(1)["goal"][0] == 5.0  # stamps 1-3 are gone: the latest is read
    assert inputs.as_of(4)["goal"][0] == 4.0
    assert inputs.as_of(1).keys() == {"goal"}


def test_goals_are_read_in_the_base_frame_and_unknown_frames_dropped():
    from m3po_learning.frames import FrameTree, transform
    from m3po_ros.conversions import MessageError, make_point
    from m3po_ros.stamped_inputs import SensorInputs

    # a camera 1 m above the base, turned a quarter turn about z
    camera = transform([0.0, 0.0, 1.0], [0.0, 0.0, np.pi / 2])
    sensors = SensorInputs(FrameTree("base_link", {"camera": camera}))
    sensors.on_point("goal", make_point([0.1, 0.2, 0.3], "base_link"))
    np.testing.assert_allclose(sensors.snapshot().inputs["goal"], [0.1, 0.2, 0.3])
    sensors.on_point("goal", make_point([0.4, 0.5, 0.6], ""))  # no frame: the base frame
    np.testing.assert_allclose(sensors.snapshot().inputs["goal"], [0.4, 0.5, 0.6])
    sensors.on_point("goal", make_point([0.2, 0.0, 0.0], "camera"))
    np.testing.assert_allclose(sensors.snapshot().inputs["goal"], [0.0, 0.2, 1.0], atol=1e-12)
    with pytest.raises(MessageError, match="frame 'map'.*known frames: base_link, camera"):
        sensors.on_point("goal", make_point([9.0, 9.0, 9.0], "map"))
    assert sensors.frame_errors == 1
    np.testing.assert_allclose(sensors.snapshot().inputs["goal"], [0.0, 0.2, 1.0], atol=1e-12)
    sensors.frames = None  # a dm_control task: inputs as sent
    sensors.on_point("goal", make_point([9.0, 9.0, 9.0], "map"))
    assert sensors.snapshot().inputs["goal"][0] == 9.0


def test_pose_goals_become_the_tasks_points_in_the_base_frame():
    from transforms3d.euler import euler2mat, euler2quat

    from m3po_learning.envs.tasks.reach import PoseInput
    from m3po_learning.frames import FrameTree, transform
    from m3po_ros.conversions import MessageError, make_pose
    from m3po_ros.stamped_inputs import SensorInputs

    pose_input = PoseInput("goal_pose", "goal", (("goal_x", (0.1, 0, 0)), ("goal_z", (0, 0, 0.1))))
    table = transform([1.0, 0.0, 0.0], [0.0, 0.0, np.pi])  # turned half a turn about z
    sensors = SensorInputs(FrameTree("base_link", {"table": table}))
    quat = euler2quat(0.0, np.pi / 2, 0.0)  # the goal's x axis points down
    sensors.on_pose(pose_input, make_pose([0.2, 0.0, 0.3], quat, "table"))
    got = sensors.snapshot().inputs
    rot = euler2mat(0.0, 0.0, np.pi) @ euler2mat(0.0, np.pi / 2, 0.0)
    np.testing.assert_allclose(got["goal"], [0.8, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(got["goal_x"], got["goal"] + rot @ [0.1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(got["goal_x"], [0.8, 0.0, 0.2], atol=1e-12)
    np.testing.assert_allclose(got["goal_z"], got["goal"] + rot @ [0, 0, 0.1], atol=1e-12)
    with pytest.raises(MessageError, match="no direction"):
        sensors.on_pose(pose_input, make_pose([0, 0, 0], [0, 0, 0, 0], "base_link"))
    with pytest.raises(MessageError, match="frame 'cam'"):
        sensors.on_pose(pose_input, make_pose([0, 0, 0], [1, 0, 0, 0], "cam"))
