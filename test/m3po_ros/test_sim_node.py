"""sim_node over DDS: topics, reset, seeds, task switch, command checks, parameters."""

from __future__ import annotations

import time

import numpy as np
import pytest
from geometry_msgs.msg import PointStamped
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import set_param, wait_for
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

from m3po_ros.conversions import command_to_msg
from m3po_ros.params import ParamError
from m3po_ros.sim_node import SimNode


def lockstep_sim(ros, **params) -> SimNode:
    values = {"task": "arm2/reach", "real_time_factor": 0.0, "seed": 3, **params}
    overrides = [Parameter(k, value=v) for k, v in values.items()]
    return ros.spin(SimNode(context=ros.context, parameter_overrides=overrides))


def test_sim_topics_reset_seed_and_commands(ros):
    states = ros.collect(JointState, "joint_states", qos_profile_sensor_data)
    goals = ros.collect(PointStamped, "goal", qos_profile_sensor_data)
    clock = ros.collect(Clock, "/clock", 100)
    rewards = ros.collect(Float64, "sim/reward", 100)
    sim = lockstep_sim(ros)
    cmd = ros.publisher(Float64MultiArray, "joint_commands")
    wait_for(lambda: ros.probe.count_subscribers("/joint_commands") > 0, 10, "sim subscriber")
    for _ in range(5):
        n = sim.steps
        cmd.publish(command_to_msg(np.array([3.0, -1.5])))
        wait_for(lambda n=n: sim.steps > n, 5, "a lockstep step")
    wait_for(lambda: len(rewards) >= 5 and len(states) >= 5, 5, "state and reward")
    assert list(states[-1][1].name) == ["shoulder", "elbow"]
    assert len(goals) >= 5 and clock[-1][1].clock.nanosec == int(0.1 * 1e9)  # 5 x 20 ms

    # Bad commands are ignored and counted, never stepped with.
    steps = sim.steps
    cmd.publish(command_to_msg(np.array([np.nan, 0.0])))
    cmd.publish(command_to_msg(np.array([1.0, 2.0, 3.0])))
    wait_for(lambda: sim.bad_commands == 2, 5, "bad commands counted")
    assert sim.steps == steps

    # Setting the seed resets to exactly that episode; ~/reset goes to the next one.
    assert set_param(ros, "/sim", "seed", 11).successful
    wait_for(lambda: sim.episode_steps == 0, 5, "reset")
    first = np.array(states[-1][1].position)
    assert set_param(ros, "/sim", "seed", 11).successful
    time.sleep(0.2)
    np.testing.assert_array_equal(np.array(states[-1][1].position), first)
    reply = ros.call(Trigger, "/sim/reset", Trigger.Request())
    assert reply.success and "seed 12" in reply.message

    # Another robot's task is refused; a task of this robot is taken.
    task = ros.publisher(String, "sim/task")
    task.publish(String(data="pendulum/swingup"))
    time.sleep(0.3)
    assert sim.task == "arm2/reach"
    task.publish(String(data="arm2/hold"))
    wait_for(lambda: sim.task == "arm2/hold", 5, "task switch")


def test_sim_bad_parameters_refused(ros):
    with pytest.raises(ParamError, match=r"'real_time_factor'=-1.0"):
        SimNode(
            context=ros.context, parameter_overrides=[Parameter("real_time_factor", value=-1.0)]
        )
    lockstep_sim(ros)
    result = set_param(ros, "/sim", "seed", -5)
    assert not result.successful and "'seed'=-5" in result.reason


def test_robot_description_is_latched_for_late_subscribers(ros):
    """As robot_state_publisher does: RViz or a controller manager started later gets it."""
    import xml.etree.ElementTree as ET

    from m3po_ros.qos import ROBOT_DESCRIPTION_QOS

    lockstep_sim(ros)
    time.sleep(0.5)  # published before anyone subscribed
    described = ros.collect(String, "robot_description", ROBOT_DESCRIPTION_QOS)
    wait_for(lambda: described, 10, "the latched robot_description")
    root = ET.fromstring(described[-1][1].data)
    assert root.get("name") == "arm2"
    assert {j.get("name") for j in root.findall("joint")} >= {"shoulder", "elbow"}
    assert root.find("ros2_control") is not None


def test_simulated_driver_gravity_compensation_and_velocity_limits(ros):
    """The sim robot: gravity acts unless its driver cancels it; drives keep velocity limits."""
    from m3po_learning.envelope import Envelope

    acting = lockstep_sim(ros, task="arm7/reach")
    assert not acting.env.model.body_gravcomp[1:].any()  # the controller adds it (auto)
    assert acting.env.envelope == Envelope.drive_only()
    acting.destroy_node()
    cancelled = lockstep_sim(ros, task="arm7/reach", driver_gravity_compensation=True)
    assert (cancelled.env.model.body_gravcomp == 1.0).sum() >= 7
