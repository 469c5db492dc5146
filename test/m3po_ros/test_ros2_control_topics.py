"""Meeting a ros2_control robot: its topic names (remaps) and its joint order (command_joints).

A robot with `joint_state_broadcaster` publishes `/joint_states`; an
`effort_controllers/JointGroupEffortController` named `effort_controller` takes
`/effort_controller/commands` in the order of its `joints` parameter. The controller meets it
through stack remap arguments (bringup and launch) and `command_joints`, over real DDS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import SHIPPED_REACH
from geometry_msgs.msg import PointStamped
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import BRINGUP, REPO, stop_process, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from m3po_ros.command_order import CommandOrder, parse_joint_list
from m3po_ros.controller_node import ControllerNode
from m3po_ros.conversions import make_joint_state, make_point
from m3po_ros.stacks import load_stack

TASK = "arm2/reach"


class Robot:
    """arm2 joint states (in the broadcaster's own, alphabetical, order) and a goal."""

    def __init__(self, ros, js_topic: str, goal_topic: str) -> None:
        self.js = ros.publisher(JointState, js_topic, qos_profile_sensor_data)
        self.goal = ros.publisher(PointStamped, goal_topic, qos_profile_sensor_data)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t = 0.0
        while not self._stop.wait(0.01):
            t += 0.01
            # joint_state_broadcaster sorts by name: elbow before shoulder
            self.js.publish(make_joint_state(["elbow", "shoulder"], [0.3, np.sin(t)], [0.0, 0.1]))
            self.goal.publish(make_point([0.15, 0.1, 0.0], frame_id="world"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def test_parse_joint_list_takes_the_forms_users_paste():
    assert parse_joint_list("elbow,shoulder") == ("elbow", "shoulder")
    assert parse_joint_list(" elbow , shoulder ") == ("elbow", "shoulder")
    assert parse_joint_list("[elbow, shoulder]") == ("elbow", "shoulder")
    assert parse_joint_list("['elbow', 'shoulder']") == ("elbow", "shoulder")
    assert parse_joint_list("elbow shoulder") == ("elbow", "shoulder")
    assert parse_joint_list("") == ()


def test_command_order_maps_by_name_and_refuses_other_joints():
    order = CommandOrder(("elbow", "shoulder"))
    order.check(("shoulder", "elbow"), TASK)
    u, names = order.apply(np.array([1.5, -2.0]), ("shoulder", "elbow"))
    assert names == ("elbow", "shoulder") and u.tolist() == [-2.0, 1.5]
    with pytest.raises(ValueError, match=r"\['shoulder', 'wrist'\].*\['shoulder', 'elbow'\]"):
        CommandOrder(("shoulder", "wrist")).check(("shoulder", "elbow"), TASK)
    with pytest.raises(ValueError, match="more than once"):
        CommandOrder(("elbow", "elbow"))
    same, names = CommandOrder().apply(np.array([1.0, 2.0]), ("shoulder", "elbow"))
    assert same.tolist() == [1.0, 2.0] and names == ("shoulder", "elbow")


def _controller(ros, name: str, **params) -> ControllerNode:
    values = {"checkpoint": str(SHIPPED_REACH), "task": TASK, "use_planner": False, **params}
    node = ControllerNode(
        context=ros.context,
        node_name=name,
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
    )
    return ros.spin(node)


def test_command_joints_orders_the_published_command(ros):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 100)
    robot = Robot(ros, "joint_states", "goal")
    try:
        node = _controller(ros, "ordered", command_joints="elbow, shoulder")
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        wait_for(lambda: len(cmds) >= 10, 30, "commands")
        labels = {m.layout.dim[0].label for _, m in cmds}
        assert labels == {"elbow,shoulder"}, labels
        # the same loop's command, in task order, equals the published one permuted
        task_joints = node.loop.context.joint_names
        assert tuple(task_joints) == ("shoulder", "elbow")
        u, names = node.command_order.apply(np.array([1.0, 2.0]), task_joints)
        assert names == ("elbow", "shoulder") and u.tolist() == [2.0, 1.0]
    finally:
        robot.stop()


def test_command_joints_mismatch_refused_at_configure(ros):
    node = _controller(ros, "mismatch", command_joints="shoulder,wrist")
    assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
    assert node.loop is None  # stays unconfigured, publishes nothing


def test_control_stack_remaps_only_what_is_asked():
    stack = load_stack("control")
    (default,) = stack.resolve({"checkpoint": "x"})
    assert default.remaps == ()
    (ros2c,) = stack.resolve(
        {
            "checkpoint": "x",
            "joint_states_topic": "/joint_states",
            "commands_topic": "/effort_controller/commands",
            "command_joints": "elbow,shoulder",
        }
    )
    assert dict(ros2c.remaps) == {
        "joint_states": "/joint_states",
        "joint_commands": "/effort_controller/commands",
    }
    assert ros2c.parameters["command_joints"] == "elbow,shoulder"


def test_bringup_control_talks_to_ros2_control_topic_names(ros, tmp_path):
    """`m3po bringup control` remapped onto a ros2_control robot's topics, joint order set."""
    cmds = ros.collect(Float64MultiArray, "/effort_controller/commands", 100)
    robot = Robot(ros, "/joint_states", "/target_point")
    log_path = tmp_path / "bringup.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    args = [
        "bringup", "control", "--checkpoint", str(SHIPPED_REACH), "--task", TASK,
        "--namespace", "arm",
        "--arg", "joint_states_topic=/joint_states",
        "--arg", "commands_topic=/effort_controller/commands",
        "--arg", "goal_topic=/target_point",
        "--arg", "command_joints=elbow,shoulder",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", BRINGUP, *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: len(cmds) >= 20, 90, "commands on /effort_controller/commands")
            nonzero = [m for _, m in cmds if any(x != 0.0 for x in m.data)]
            assert nonzero, "the controller only sent zeros"
            assert {m.layout.dim[0].label for _, m in cmds} == {"elbow,shoulder"}
        finally:
            stop_process(proc)
            robot.stop()
    time.sleep(0.2)
    text = log_path.read_text()
    assert (
        "topics: in /joint_states, /target_point; commands out /effort_controller/commands"
        " (effort, Float64MultiArray; joints elbow,shoulder)" in text
    ), text[-3000:]
