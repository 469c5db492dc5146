"""The shipped SROS 2 policy covers every topic and service the controller really uses.

The policy (config/sros2/policy.xml) is what a native install signs into permissions; if the
node gains a topic the policy lacks, an enforcing system would silently cut it. This test
reads the node's own publishers, subscriptions and services after configure and checks each
against the controller enclave, and that only the operator may stop, reset or retask it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rclpy.parameter import Parameter

from m3po_ros.autostart import configure_and_activate
from m3po_ros.controller_node import ControllerNode

POLICY = Path(__file__).resolve().parents[2] / "config" / "sros2" / "policy.xml"


def profile_rules(enclave: str) -> dict[str, set[str]]:
    root = ET.parse(POLICY).getroot()
    node = root.find(f"./enclaves/enclave[@path='{enclave}']/profiles/profile")
    assert node is not None, f"{POLICY}: no profile for enclave {enclave}"
    rules: dict[str, set[str]] = {}
    for group in node:
        for kind, allowed in group.attrib.items():
            assert allowed == "ALLOW", (enclave, group.tag, kind)
            rules.setdefault(f"{group.tag}:{kind}", set()).update(e.text for e in group)
    return rules


def policy_name(ros_name: str, node_fqn: str) -> str:
    """A ROS name as the policy writes it: ~private or relative to /."""
    if ros_name.startswith("~/"):  # rclpy keeps some names as created
        return "~" + ros_name[2:]
    ros_name = ros_name if ros_name.startswith("/") else "/" + ros_name
    if ros_name.startswith(node_fqn + "/"):
        return "~" + ros_name[len(node_fqn) + 1 :]
    return ros_name.lstrip("/")


def test_policy_covers_what_the_controller_uses(ros, random_checkpoint):
    node = ControllerNode(
        context=ros.context,
        parameter_overrides=[
            Parameter("checkpoint", value=str(random_checkpoint)),
            Parameter("task", value="arm2/reach"),
            Parameter("use_planner", value=False),
            Parameter("follow_learner", value=True),
            Parameter("publish_observation", value=True),
        ],
    )
    try:
        assert configure_and_activate(node)
        fqn = node.get_fully_qualified_name()
        rules = profile_rules("/m3po/controller")
        subs = {policy_name(s.topic_name, fqn) for s in node.subscriptions}
        pubs = {policy_name(p.topic_name, fqn) for p in node.publishers}
        srvs = {policy_name(s.srv_name, fqn) for s in node.services}
        assert {"~estop", "~checkpoint", "~task", "joint_states", "goal"} <= subs
        assert "~reset_estop" in srvs
        assert subs <= rules["topics:subscribe"], subs - rules["topics:subscribe"]
        assert pubs <= rules["topics:publish"], pubs - rules["topics:publish"]
        assert srvs <= rules["services:reply"], srvs - rules["services:reply"]
    finally:
        node.destroy_node()


def test_only_the_operator_may_stop_reset_retask_or_swap():
    guarded = {"/controller/estop", "/controller/task", "/controller/checkpoint"}
    root = ET.parse(POLICY).getroot()
    for enclave in root.iterfind("./enclaves/enclave"):
        rules = profile_rules(enclave.get("path"))
        published = rules.get("topics:publish", set())
        if enclave.get("path") == "/m3po/operator":
            assert guarded <= published
            assert "/controller/reset_estop" in rules["services:request"]
        else:
            assert not guarded & published, enclave.get("path")
            assert "/controller/reset_estop" not in rules.get("services:request", set())
    assert "m3po/checkpoint" in profile_rules("/m3po/learner")["topics:publish"]
