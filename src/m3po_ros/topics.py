"""Topic names shared by the stack's nodes (their QoS: `m3po_ros.qos`), without ROS imports.

Names are relative so namespaces and remaps work; `/diagnostics` is global by convention.
"""

from __future__ import annotations

JOINT_STATES = "joint_states"  # sensor_msgs/JointState from the robot driver (or sim_node)
JOINT_COMMANDS = "joint_commands"  # std_msgs/Float64MultiArray efforts to the robot
DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray
CHECKPOINTS = "m3po/checkpoint"  # std_msgs/String: path of the learner's newest checkpoint
TRANSITIONS = "m3po/transitions"  # std_msgs/Float64MultiArray: labelled episodes

__all__ = ["CHECKPOINTS", "DIAGNOSTICS", "JOINT_COMMANDS", "JOINT_STATES", "TRANSITIONS"]
