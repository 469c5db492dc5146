"""Goals in other frames, over DDS: transformed into the task's base frame or refused.

The sim node stamps goals in the robot's base frame (the URDF root link, `base_link`), the
controller reads goals in that frame, in `world` (identity by default, as in simulation) or
in any frame given by `static_transforms`, and drops goals in an unknown frame with a
counted, logged error.
"""

from __future__ import annotations

import numpy as np
from conftest import SHIPPED_REACH
from geometry_msgs.msg import PointStamped
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import wait_for

from m3po_ros.controller_node import ControllerNode
from m3po_ros.conversions import make_point
from m3po_ros.sim_node import SimNode

TASK = "arm2/reach"


def _controller(ros, **params) -> ControllerNode:
    values = {"checkpoint": str(SHIPPED_REACH), "task": TASK, "use_planner": False, **params}
    node = ControllerNode(
        context=ros.context,
        node_name="controller",
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
    )
    return ros.spin(node)


def test_sim_goals_are_stamped_in_the_urdf_root_frame(ros):
    goals = ros.collect(PointStamped, "goal", qos_profile_sensor_data)
    ros.spin(
        SimNode(
            context=ros.context,
            node_name="sim",
            parameter_overrides=[Parameter("task", value=TASK)],
        )
    )
    wait_for(lambda: len(goals) >= 3, 30, "goals")
    assert {m.header.frame_id for _, m in goals} == {"base_link"}


def test_goal_in_a_camera_frame_is_read_in_the_base_frame(ros):
    # a camera 0.5 m above the base, yawed a quarter turn: its x axis is the base's y
    node = _controller(ros, static_transforms="world: 0 0 0 0 0 0; cam: 0 0 0.5 0 0 1.5707963")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.sensors.frames.base == "base_link"
    pub = ros.publisher(PointStamped, "goal", qos_profile_sensor_data)

    def goal():
        return node.sensors.snapshot().inputs.get("goal")

    wait_for(lambda: ros.probe.count_subscribers("/goal") > 0, 10, "controller subscription")
    pub.publish(make_point([0.2, 0.0, -0.5], "cam"))
    wait_for(lambda: goal() is not None, 10, "the goal")
    np.testing.assert_allclose(goal(), [0.0, 0.2, 0.0], atol=1e-6)
    pub.publish(make_point([0.9, 0.9, 0.9], "map"))  # no transform: dropped, counted
    wait_for(lambda: node.sensors.frame_errors == 1, 10, "the refusal")
    np.testing.assert_allclose(goal(), [0.0, 0.2, 0.0], atol=1e-6)
    assert node.diagnostics_values()["input_frame_errors"] == 1


def test_malformed_static_transforms_refused_at_configure(ros):
    node = _controller(ros, static_transforms="cam: 0 0 0.5")
    assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
    assert node.loop is None


def test_pose_goal_reaches_the_controller_as_the_envs_points(ros, tmp_path):
    """arm7/reach_pose: the sim's PoseStamped goal gives the controller the env's inputs."""
    from conftest import make_random_checkpoint
    from geometry_msgs.msg import PoseStamped

    task = "arm7/reach_pose"
    poses = ros.collect(PoseStamped, "goal_pose", qos_profile_sensor_data)
    sim = ros.spin(
        SimNode(
            context=ros.context,
            node_name="sim",
            parameter_overrides=[Parameter("task", value=task), Parameter("seed", value=7)],
        )
    )
    ckpt = make_random_checkpoint(tmp_path / "pose", [task])
    node = _controller(ros, checkpoint=str(ckpt), task=task)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    topics = {s.topic_name for s in node._subs}
    assert "/goal_pose" in topics and "/goal" not in topics and "/goal_x" not in topics
    wait_for(lambda: len(poses) >= 2, 30, "pose goals")
    assert poses[-1][1].header.frame_id == "base_link"
    wait_for(lambda: "goal_z" in node.sensors.snapshot().inputs, 10, "the pose inputs")
    got, want = node.sensors.snapshot().inputs, sim.env.task_inputs()
    assert set(want) == {"goal", "goal_x", "goal_z"}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-9, err_msg=name)


def test_sim_link_transforms_match_the_kinematics(ros):
    """The transforms /tf would carry (root -> link) put each link where MuJoCo has it.

    tf2_msgs has no PyPI wheel, so here the node says /tf is off and why; the transforms
    themselves are checked against the simulation's own forward kinematics.
    """
    from transforms3d.quaternions import quat2mat

    sim = ros.spin(
        SimNode(
            context=ros.context,
            node_name="sim",
            parameter_overrides=[
                Parameter("task", value="arm7/reach"),
                Parameter("seed", value=3),
            ],
        )
    )
    assert sim.tf_status.startswith("/tf not published: tf2_msgs is not installed")
    tfs = {t.child_frame_id: t for t in sim.link_transforms()}
    assert {t.header.frame_id for t in tfs.values()} == {"base_link"}
    assert {"link1", "link7", "tool", "tool_x", "tool_z"} <= set(tfs)
    data, robot = sim.env.data, sim.env.robot
    for link in ("link4", "tool", "tool_z"):
        t = tfs[link].transform
        got = np.array([t.translation.x, t.translation.y, t.translation.z])
        np.testing.assert_allclose(got, data.xpos[robot.link_names[link]], atol=1e-9)
    # tool_z lies 0.1 m along the tool's z axis, by the tool's own rotation
    r = tfs["tool"].transform.rotation
    tool = tfs["tool"].transform.translation
    z = np.array([tool.x, tool.y, tool.z]) + quat2mat([r.w, r.x, r.y, r.z]) @ [0, 0, 0.1]
    tz = tfs["tool_z"].transform.translation
    np.testing.assert_allclose([tz.x, tz.y, tz.z], z, atol=1e-9)
