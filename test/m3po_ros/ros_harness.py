"""Test helpers: an isolated rclpy context, nodes spun on their own executors, subprocess nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.node import Node

from m3po_ros.node_main import SpinThread

REPO = Path(__file__).resolve().parents[2]


class Ros:
    """One rclpy context per test; every node spins on its own executor thread."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self._spinning: list[SpinThread] = []
        self.probe = Node("test_probe", context=self.context)
        self.spin(self.probe)

    def spin(self, node: Node) -> Node:
        self._spinning.append(SpinThread(node, self.context))
        return node

    def stop(self, node: Node) -> None:
        """Stop spinning `node` and destroy it."""
        for spinner in list(self._spinning):
            if spinner.node is node:
                spinner.stop()
                self._spinning.remove(spinner)
        node.destroy_node()

    def collect(self, msg_type, topic: str, qos=10) -> list:
        """Messages on `topic` as (monotonic arrival time, msg), appended as they arrive."""
        out: list = []
        self.probe.create_subscription(
            msg_type, topic, lambda m: out.append((time.monotonic(), m)), qos
        )
        return out

    def publisher(self, msg_type, topic: str, qos=10):
        return self.probe.create_publisher(msg_type, topic, qos)

    def call(self, srv_type, name: str, request, timeout: float = 10.0):
        client = self.probe.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available")
        future = client.call_async(request)
        wait_for(future.done, timeout, f"reply from {name}")
        return future.result()

    def shutdown(self) -> None:
        for spinner in self._spinning:  # every executor stopped before any node is destroyed
            spinner.stop()
        for spinner in self._spinning:
            spinner.node.destroy_node()
        self._spinning = []
        rclpy.shutdown(context=self.context)


# `m3po bringup ARGS` as `python -c BRINGUP ARGS`, without the entry-point lookup.
BRINGUP = (
    "import argparse, sys; from m3po_ros import cli_bringup; "
    "p = argparse.ArgumentParser(); cli_bringup.add_parser(p.add_subparsers()); "
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)


def assert_imports_without_ros(module: str) -> None:
    """A core module imports in a fresh interpreter without loading rclpy (or torch)."""
    code = (
        f"import sys, {module}; "
        "bad = sorted({'rclpy', 'torch'} & set(sys.modules)); "
        "sys.exit(' '.join(bad) or None)"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{module} loaded {proc.stderr.strip() or proc.returncode}"


def wait_for(pred: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")


def change_state(ros: Ros, node_name: str, transition_id: int) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    req = ChangeState.Request(transition=Transition(id=transition_id))
    return bool(ros.call(ChangeState, f"{node_name}/change_state", req).success)


def get_state(ros: Ros, node_name: str) -> str:
    from lifecycle_msgs.srv import GetState

    return ros.call(GetState, f"{node_name}/get_state", GetState.Request()).current_state.label


def set_param(ros: Ros, node_name: str, name: str, value):
    """Set one parameter through the node's SetParameters service; returns the result."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    return ros.call(SetParameters, f"{node_name}/set_parameters", req).results[0]


def node_process(
    module: str, params: dict, name: str | None = None, log: Path | None = None
) -> subprocess.Popen:
    """Start `python -m m3po_ros.<module>` with `--ros-args -p` parameters, same ROS env."""
    args = [sys.executable, "-m", f"m3po_ros.{module}", "--ros-args"]
    if name:
        args += ["-r", f"__node:={name}"]
    for k, v in params.items():
        text = str(v).lower() if isinstance(v, bool) else str(v)
        args += ["-p", f"{k}:={text}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the proc
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def autostart_process(node: str, log: Path | None = None) -> subprocess.Popen:
    """Start `python -m m3po_ros.autostart --node <node>`, logging to `log` if given.

    It drives a lifecycle node process to active over its services when its `autostart`
    parameter is true, as the launch files do.
    """
    args = [sys.executable, "-m", "m3po_ros.autostart", "--node", node]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the proc
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(2)  # SIGINT: rclpy shuts down cleanly
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
