"""Test helpers: an isolated rclpy context, nodes spun on their own executors, subprocess nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

REPO = Path(__file__).resolve().parents[2]


class Ros:
    """One rclpy context per test; every node spins on its own executor thread."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self._spinning: list[tuple[SingleThreadedExecutor, threading.Thread, Node]] = []
        self._stops: dict[int, threading.Event] = {}
        self.probe = Node("test_probe", context=self.context)
        self.spin(self.probe)

    def spin(self, node: Node) -> Node:
        ex = SingleThreadedExecutor(context=self.context)
        ex.add_node(node)
        stop = self._stops[id(node)] = threading.Event()
        t = threading.Thread(target=self._spin_forever, args=(ex, stop), daemon=True)
        t.start()
        self._spinning.append((ex, t, node))
        return node

    def stop(self, node: Node) -> None:
        """Stop spinning `node` and destroy it."""
        for entry in list(self._spinning):
            if entry[2] is node:
                self._stops[id(node)].set()
                entry[1].join(timeout=2.0)
                entry[0].shutdown(timeout_sec=1.0)
                self._spinning.remove(entry)
        node.destroy_node()

    def _spin_forever(self, ex: SingleThreadedExecutor, stop: threading.Event) -> None:
        try:
            while self.context.ok() and not stop.is_set():
                ex.spin_once(timeout_sec=0.05)
        except Exception:  # noqa: BLE001 - context shut down under the executor
            if self.context.ok():
                raise

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
        nodes = [n for _, _, n in self._spinning]
        rclpy.shutdown(context=self.context)
        for ex, t, _ in self._spinning:
            t.join(timeout=2.0)
            ex.shutdown(timeout_sec=1.0)
        for n in nodes:
            n.destroy_node()


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


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(2)  # SIGINT: rclpy shuts down cleanly
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
