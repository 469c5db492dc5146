"""The shipped ros2_control pieces agree with the URDF and with what the controller accepts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import yaml
from ros_harness import REPO

from m3po_learning.envs.urdf_info import read_urdf_joints
from m3po_ros.command_order import CommandOrder

URDF = REPO / "urdf" / "arm2.urdf"
CONTROLLERS = REPO / "config" / "ros2_control" / "arm2_controllers.yaml"


def test_urdf_ros2_control_block_matches_the_joints_and_limits():
    root = ET.parse(URDF).getroot()
    (block,) = root.findall("ros2_control")
    assert block.find("hardware/plugin").text == "mock_components/GenericSystem"
    joints = {j.name: j for j in read_urdf_joints(URDF) if j.type != "fixed"}
    declared = {j.get("name"): j for j in block.findall("joint")}
    assert set(declared) == set(joints), (sorted(declared), sorted(joints))
    for name, elem in declared.items():
        j = joints[name]
        expected = {
            "effort": {"min": -j.effort, "max": j.effort},
            "position": {"min": j.lower, "max": j.upper},
            "velocity": {"min": -j.velocity, "max": j.velocity},
        }
        cmds = {
            c.get("name"): {p.get("name"): float(p.text) for p in c.findall("param")}
            for c in elem.findall("command_interface")
        }
        assert cmds == expected, name
        states = [s.get("name") for s in elem.findall("state_interface")]
        assert {"position", "velocity"} <= set(states), name


def test_controller_yaml_joints_are_the_urdf_joints_and_accepted_as_command_joints():
    data = yaml.safe_load(CONTROLLERS.read_text())
    cm = data["controller_manager"]["ros__parameters"]
    assert cm["joint_state_broadcaster"]["type"] == "joint_state_broadcaster/JointStateBroadcaster"
    assert cm["effort_controller"]["type"] == "effort_controllers/JointGroupEffortController"
    assert cm["position_controller"]["type"].endswith("/JointGroupPositionController")
    assert cm["velocity_controller"]["type"].endswith("/JointGroupVelocityController")
    assert cm["joint_trajectory_controller"]["type"].endswith("/JointTrajectoryController")
    urdf_joints = sorted(j.name for j in read_urdf_joints(URDF) if j.type != "fixed")
    for controller in (
        "effort_controller",
        "position_controller",
        "velocity_controller",
        "joint_trajectory_controller",
    ):
        joints = data[controller]["ros__parameters"]["joints"]
        assert sorted(joints) == urdf_joints, controller
        CommandOrder(tuple(joints)).check(("shoulder", "elbow"), "arm2/reach")  # no raise
    jtc = data["joint_trajectory_controller"]["ros__parameters"]
    assert jtc["command_interfaces"] == ["position"]
