"""The shared QoS profiles: what each promises, and that the nodes use these very objects."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import assert_imports_without_ros, wait_for
from std_msgs.msg import String

from m3po_ros import qos, topics


def test_profiles():
    assert qos.SENSOR_QOS == qos_profile_sensor_data
    assert qos.SENSOR_QOS.reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos.COMMAND_QOS.reliability == ReliabilityPolicy.RELIABLE
    assert qos.COMMAND_QOS.depth == 10
    c = qos.CHECKPOINT_QOS
    assert (c.depth, c.reliability, c.durability) == (
        1,
        ReliabilityPolicy.RELIABLE,
        DurabilityPolicy.TRANSIENT_LOCAL,
    )
    t = qos.TRANSITIONS_QOS
    assert (t.depth, t.reliability) == (50, ReliabilityPolicy.RELIABLE)
    assert t.durability == DurabilityPolicy.VOLATILE


def test_nodes_share_the_profiles_and_topic_names():
    from m3po_ros import controller_node, learner_node, params, sim_node

    for module in (controller_node, learner_node, sim_node):
        for name in ("COMMAND_QOS", "CHECKPOINT_QOS", "TRANSITIONS_QOS", "SENSOR_QOS"):
            if hasattr(module, name):
                assert getattr(module, name) is getattr(qos, name), (module.__name__, name)
    assert learner_node.TRANSITIONS_QOS is sim_node.TRANSITIONS_QOS
    assert params.ControllerParams().learner_topic == topics.CHECKPOINTS
    assert params.LearnerParams().announce_topic == topics.CHECKPOINTS
    assert params.LearnerParams().transitions_topic == topics.TRANSITIONS
    assert params.SimParams().transitions_topic == topics.TRANSITIONS


def test_a_late_subscriber_gets_the_latched_checkpoint(ros):
    pub = ros.publisher(String, topics.CHECKPOINTS, qos.CHECKPOINT_QOS)
    pub.publish(String(data="/runs/a/checkpoints/step_1"))
    pub.publish(String(data="/runs/a/checkpoints/step_2"))
    got = ros.collect(String, topics.CHECKPOINTS, qos.CHECKPOINT_QOS)  # joins afterwards
    wait_for(lambda: got, 10, "the latched announcement")
    assert [m.data for _, m in got] == ["/runs/a/checkpoints/step_2"]  # depth 1: the last one


def test_topics_import_without_ros():
    assert_imports_without_ros("m3po_ros.topics")
