"""QoS profiles of the stack's topics, defined once (topic names: `m3po_ros.topics`).

Every node and the tests import them from here, so a publisher and its subscribers cannot
drift apart (a reliable subscriber never matches a best-effort publisher; a late joiner only
gets a latched message when both sides are transient local).
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Sensor topics (joint_states, task inputs such as goal): the sensor-data profile, best
# effort and shallow, as robot drivers publish them; the freshest reading is what counts.
SENSOR_QOS: QoSProfile = qos_profile_sensor_data
# Commands to the actuators: reliable, so a subscriber on reliable QoS matches as well.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Latched checkpoint announcements: a controller that starts late still gets the learner's
# last one.
CHECKPOINT_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# The URDF on `robot_description`, latched as robot_state_publisher does: RViz and
# controller managers that start later still get it.
ROBOT_DESCRIPTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# /tf, as tf2's TransformBroadcaster publishes it.
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
# Whole episodes: reliable, and deep enough that a slow learner does not lose any.
TRANSITIONS_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
# /diagnostics, as diagnostic_updater publishes it.
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)

__all__ = [
    "CHECKPOINT_QOS",
    "COMMAND_QOS",
    "DIAGNOSTICS_QOS",
    "ROBOT_DESCRIPTION_QOS",
    "SENSOR_QOS",
    "TF_QOS",
    "TRANSITIONS_QOS",
]
