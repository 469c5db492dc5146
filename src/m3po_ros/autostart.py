"""Autostart: the bringup and the launch files drive a lifecycle node to active, not the node.

A lifecycle node (the controller) only answers transitions; who starts it decides when. With
its `autostart` parameter true, the starter configures and activates it; with
`follow_learner` and no `checkpoint` it first waits for the learner's first announcement,
sets it as `checkpoint`, then configures and activates.

* `m3po bringup` (and the tests) hold the node object: `autostart(node)` drives it
  in-process, right after construction.
* `ros2 launch` runs every node in its own process: the launch files start
  `python -m m3po_ros.autostart --node /ns/controller` next to each lifecycle node, which does
  the same over the node's parameter and lifecycle services (as ros2/demos'
  lifecycle_service_client and nav2's lifecycle manager do).
"""

from __future__ import annotations

import argparse
import os
import sys

OFF, WAIT, START = "off", "wait for checkpoint", "start"
FAILED = "failed"  # START was tried and the node did not reach active (its log says why)


def autostart_plan(autostart: bool, checkpoint: str, follow_learner: bool) -> str:
    """What a starter does with a controller: OFF, WAIT (for the learner's first) or START."""
    if not autostart:
        return OFF
    if not checkpoint and follow_learner:
        return WAIT
    return START


def configure_and_activate(node) -> bool:
    """Configure, then activate, a lifecycle node in-process; True once it is active."""
    from rclpy.lifecycle import TransitionCallbackReturn

    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def autostart(node) -> str:
    """Drive `node` as its `autostart` parameter asks (in-process: bringup, tests).

    Nodes without lifecycle transitions or without an `autostart` parameter are left alone.
    With WAIT, a subscription on the node's `learner_topic` (latched QoS) takes the first
    announced checkpoint, then the node is configured and activated from that callback.

    Returns:
        The plan followed: OFF, WAIT or START, or FAILED when START did not reach active.
    """
    params = getattr(node, "params", None)
    if not hasattr(node, "trigger_configure") or not hasattr(params, "autostart"):
        return OFF
    plan = autostart_plan(params.autostart, params.checkpoint, params.follow_learner)
    if plan == START:
        if not configure_and_activate(node):
            return FAILED
    elif plan == WAIT:
        from rclpy.parameter import Parameter
        from std_msgs.msg import String

        from m3po_ros.qos import CHECKPOINT_QOS

        node.get_logger().info(f"waiting for a checkpoint on {params.learner_topic}")
        waiting: dict = {}

        def on_first(msg: String) -> None:
            if "sub" not in waiting:
                return
            node.set_parameters([Parameter("checkpoint", value=msg.data)])
            if configure_and_activate(node):  # else (e.g. outside checkpoint_roots): wait on
                node.destroy_subscription(waiting.pop("sub"))

        waiting["sub"] = node.create_subscription(
            String, params.learner_topic, on_first, CHECKPOINT_QOS
        )
    return plan


# -- over services: the launch files' starter ---------------------------------------------------
def node_name(namespace: str, node: str) -> str:
    """Fully qualified name from a (possibly empty) namespace and a node path, e.g. '/a/b/c'."""
    parts = [p for part in (namespace, node) for p in part.split("/") if p]
    return "/" + "/".join(parts)


def resolve_topic(topic: str, target: str) -> str:
    """`topic` as the node `target` (fully qualified) resolves it: absolute, private, relative."""
    if topic.startswith("/"):
        return topic
    if topic.startswith("~/"):
        return f"{target}/{topic[2:]}"
    namespace = target.rsplit("/", 1)[0]
    return f"{namespace}/{topic}"


def _call(node, client, request, timeout_s: float, what: str):
    import rclpy

    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
    if not future.done() or future.result() is None:
        raise TimeoutError(f"no reply from {what} within {timeout_s:.0f} s")
    return future.result()


def drive_over_services(node, target: str, timeout_s: float) -> str:
    """Read `target`'s autostart parameters and drive it to active through its services.

    Raises:
        TimeoutError: a service did not appear or answer within `timeout_s`.
        RuntimeError: a transition failed (the target's log says why).
    """
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rcl_interfaces.srv import GetParameters, SetParameters
    from rclpy.parameter import Parameter, parameter_value_to_python
    from std_msgs.msg import String

    from m3po_ros.qos import CHECKPOINT_QOS

    names = ["autostart", "checkpoint", "follow_learner", "learner_topic"]
    get = node.create_client(GetParameters, f"{target}/get_parameters")
    if not get.wait_for_service(timeout_sec=timeout_s):
        raise TimeoutError(f"{target}/get_parameters did not appear within {timeout_s:.0f} s")
    reply = _call(node, get, GetParameters.Request(names=names), timeout_s, target)
    values = dict(zip(names, (parameter_value_to_python(v) for v in reply.values), strict=True))
    plan = autostart_plan(
        bool(values["autostart"]), values["checkpoint"] or "", bool(values["follow_learner"])
    )
    if plan == OFF:
        return plan
    if plan == WAIT:
        topic = resolve_topic(values["learner_topic"], target)
        node.get_logger().info(f"{target}: waiting for a checkpoint on {topic}")
        got: list[str] = []
        sub = node.create_subscription(String, topic, lambda m: got.append(m.data), CHECKPOINT_QOS)
        while rclpy.ok() and not got:
            rclpy.spin_once(node, timeout_sec=0.1)
        node.destroy_subscription(sub)
        if not got:
            return plan
        put = node.create_client(SetParameters, f"{target}/set_parameters")
        put.wait_for_service(timeout_sec=timeout_s)
        msg = Parameter("checkpoint", value=got[0]).to_parameter_msg()
        result = _call(node, put, SetParameters.Request(parameters=[msg]), timeout_s, target)
        if not result.results[0].successful:
            raise RuntimeError(
                f"{target} refused checkpoint {got[0]!r}: {result.results[0].reason}"
            )
    change = node.create_client(ChangeState, f"{target}/change_state")
    if not change.wait_for_service(timeout_sec=timeout_s):
        raise TimeoutError(f"{target}/change_state did not appear within {timeout_s:.0f} s")
    for tid, label in (
        (Transition.TRANSITION_CONFIGURE, "configure"),
        (Transition.TRANSITION_ACTIVATE, "activate"),
    ):
        request = ChangeState.Request(transition=Transition(id=tid))
        if not _call(node, change, request, timeout_s, f"{target} ({label})").success:
            raise RuntimeError(f"{target}: transition {label} failed (see its log)")
    return plan


def main(argv: list[str] | None = None) -> int:
    """`python -m m3po_ros.autostart --node /ns/controller`: drive one node to active, exit."""
    import rclpy
    from rclpy.node import Node

    parser = argparse.ArgumentParser(prog="python -m m3po_ros.autostart", description=__doc__)
    parser.add_argument("--node", required=True, help="the lifecycle node, e.g. controller")
    parser.add_argument("--namespace", default="", help="namespace in front of --node")
    parser.add_argument("--timeout", type=float, default=300.0, help="per service call, s")
    args, ros_args = parser.parse_known_args(argv)
    target = node_name(args.namespace, args.node)
    rclpy.init(args=ros_args)
    node = Node(f"autostart_{os.getpid()}")
    try:
        plan = drive_over_services(node, target, args.timeout)
        node.get_logger().info(f"{target}: {plan}" + (" done" if plan != OFF else ""))
        return 0
    except (TimeoutError, RuntimeError) as exc:
        node.get_logger().error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
