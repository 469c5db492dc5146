"""The shared `main()` of the node executables: init, refuse bad parameters, spin, shut down."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from m3po_ros.params import ParamError


def spin_node(node_class, name: str, args: list[str] | None = None) -> int:
    """Run one node until Ctrl-C; exit code 2 (with the message) for refused parameters."""
    rclpy.init(args=args)
    try:
        node = node_class()
    except ParamError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
