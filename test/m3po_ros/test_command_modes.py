"""Position and trajectory command interfaces against the simulated drive, over real DDS.

A checkpoint trained on `arm2/reach@position` publishes position setpoints (or one-point
JointTrajectory messages for a JointTrajectoryController); the sim node's MuJoCo position
servo follows them. Pairings that would hand an effort policy to a position interface are
refused at configure, and stopping the node leaves the robot holding where it is.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from conftest import SHIPPED_REACH, make_random_checkpoint
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import autostart_process, node_process, stop_process, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from m3po_ros.command_interface import resolve_interface
from m3po_ros.controller_node import ControllerNode
from m3po_ros.sim_node import SimNode

TASK = "arm2/reach@position"
STEP = np.array([3.0, 4.0]) * 0.02  # arm2's velocity limits x the 20 ms control period


@pytest.fixture(scope="module")
def position_checkpoint(tmp_path_factory):
    return make_random_checkpoint(tmp_path_factory.mktemp("pos") / "ckpt", [TASK])


def _node(cls, ros, name: str, **params):
    node = cls(
        context=ros.context,
        node_name=name,
        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
    )
    return ros.spin(node)


def _controller(ros, checkpoint, **params) -> ControllerNode:
    return _node(
        ControllerNode, ros, "controller", checkpoint=str(checkpoint), use_planner=False,
        **params,
    )  # fmt: skip


def _positions(states: list, after: float = 0.0) -> np.ndarray:
    """(N, 2) shoulder, elbow positions of the joint states that arrived after `after`."""
    rows = []
    for t, m in states:
        if t >= after:
            by_name = dict(zip(m.name, m.position, strict=True))
            rows.append([by_name["shoulder"], by_name["elbow"]])
    return np.array(rows)


def test_interface_follows_the_drive_and_refuses_the_rest():
    assert resolve_interface("auto", "position") == "position"
    assert resolve_interface("trajectory", "position") == "trajectory"
    assert resolve_interface("auto", "effort") == "effort"
    with pytest.raises(ValueError, match=r"effort drive.*servo gains.*arm2/reach@position"):
        resolve_interface("position", "effort", "arm2/reach")
    with pytest.raises(ValueError, match=r"position drive \(it can publish: position, traj"):
        resolve_interface("velocity", "position", TASK)


def test_effort_checkpoint_refused_on_a_position_interface(ros):
    node = _controller(ros, SHIPPED_REACH, task="arm2/reach", command_interface="position")
    assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
    assert node.loop is None


def test_position_setpoints_drive_the_simulated_servo(ros, position_checkpoint):
    commands = ros.collect(Float64MultiArray, "joint_commands", 200)
    states = ros.collect(JointState, "joint_states", qos_profile_sensor_data)
    sim = _node(SimNode, ros, "sim", task=TASK, publish_clock=False, seed=3)
    ctl = _controller(ros, position_checkpoint, task=TASK)
    assert ctl.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert ctl.command_interface == "position"
    assert ctl.trigger_activate() == TransitionCallbackReturn.SUCCESS
    wait_for(lambda: len(commands) >= 60, 60, "position setpoints")
    t_stop = time.monotonic()
    ctl.trigger_deactivate()
    time.sleep(0.3)
    q = _positions(states)
    assert np.ptp(q, axis=0).max() > 0.05, "the servo did not move the arm"
    # Every setpoint lies within one step (velocity limit x period) of where the arm was.
    last_q = _positions(states, after=commands[-1][0] - 0.1)
    sent = np.array([m.data for _, m in commands])
    assert np.all(np.abs(np.diff(sent, axis=0)) <= 2 * STEP + 0.02)
    # The stop command holds the arm where it was when the node stopped.
    hold = np.array(commands[-1][1].data)
    assert commands[-1][0] >= t_stop
    np.testing.assert_allclose(hold, last_q[-1], atol=STEP.max())
    settled = _positions(states, after=time.monotonic() - 0.1)
    np.testing.assert_allclose(settled[-1], hold, atol=0.02)
    assert sim.bad_commands == 0


def test_trajectory_interface_for_a_joint_trajectory_controller(ros, position_checkpoint):
    trajs = ros.collect(JointTrajectory, "joint_commands", 200)
    states = ros.collect(JointState, "joint_states", qos_profile_sensor_data)
    sim = _node(
        SimNode, ros, "sim", task=TASK, publish_clock=False, seed=4,
        command_interface="trajectory",
    )  # fmt: skip
    ctl = _controller(
        ros, position_checkpoint, task=TASK, command_interface="trajectory",
        command_joints="elbow,shoulder",
    )  # fmt: skip
    assert ctl.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert ctl.trigger_activate() == TransitionCallbackReturn.SUCCESS
    wait_for(lambda: len(trajs) >= 40, 60, "trajectories")
    ctl.trigger_deactivate()
    _, msg = trajs[-1]
    assert list(msg.joint_names) == ["elbow", "shoulder"] and len(msg.points) == 1
    t = msg.points[0].time_from_start
    assert t.sec == 0 and t.nanosec == 20_000_000  # one control period
    assert np.ptp(_positions(states), axis=0).max() > 0.05
    assert sim.bad_commands == 0


def test_sigterm_leaves_a_position_robot_holding(ros, position_checkpoint, tmp_path):
    commands = ros.collect(Float64MultiArray, "joint_commands", 200)
    states = ros.collect(JointState, "joint_states", qos_profile_sensor_data)
    sim = node_process(
        "sim_node", {"task": TASK, "publish_clock": False, "seed": 5}, log=tmp_path / "sim.log"
    )
    ctl = node_process(
        "controller_node",
        {"checkpoint": str(position_checkpoint), "task": TASK, "autostart": True,
         "use_planner": False},
        log=tmp_path / "controller.log",
    )  # fmt: skip
    driver = autostart_process("/controller", log=tmp_path / "autostart.log")
    try:
        wait_for(lambda: len(commands) >= 30, 90, "the controller to drive the sim")
        t_signal = time.monotonic()
        ctl.send_signal(signal.SIGTERM)
        assert ctl.wait(timeout=15) == 0, (tmp_path / "controller.log").read_text()[-2000:]
        time.sleep(0.3)
        after = [np.array(m.data) for t, m in commands if t >= t_signal]
        assert after, "no command after SIGTERM"
        q = _positions(states, after=t_signal - 0.05)
        np.testing.assert_allclose(after[-1], q[0], atol=STEP.max())  # hold, not zero
        log = (tmp_path / "controller.log").read_text()
        assert "published the stop command (hold the current position)" in log, log[-2000:]
    finally:
        for p in (driver, ctl, sim):
            stop_process(p)
