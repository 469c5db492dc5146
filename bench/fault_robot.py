"""A robot that misbehaves on a schedule: the other process of the fault-injection soak.

Not the project's sim node: a separate rclpy process that integrates a damped 2-joint arm
(arm2's joints and URDF limits), publishes JointState at 100 Hz and a goal, takes the
controller's `joint_commands`, and in turn injects the faults a real robot and its network
produce (FAULTS). Every command it receives and every fault window is written to a JSON log
that `bench/fault_soak.py` analyses.

    PYTHONPATH=src python bench/fault_robot.py --seconds 30 --log /tmp/robot.json \
        --good CKPT --corrupt BAD_CKPT
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

JOINTS = ("shoulder", "elbow")
EFFORT_MAX = np.array([6.0, 3.0])  # arm2 URDF effort limits, N m
VEL_MAX = np.array([3.0, 4.0])  # arm2 URDF velocity limits, rad/s
RATE_HZ = 100.0
# Each fault lasts FAULT_S, then the robot behaves for CALM_S; the list repeats.
FAULTS = (
    "nan",  # NaN / Inf positions
    "reversed",  # joint order reversed (the controller maps by name)
    "shuffled",  # joint order shuffled each message
    "missing_joint",  # one joint left out
    "extra_joint",  # an unknown joint added
    "stale",  # silence for 0.2 - 2 s
    "burst",  # 200 messages in 0.1 s
    "out_of_order",  # stamps jump backwards and forwards
    "duplicated",  # every message sent twice
    "wrong_frame",  # goal published in a camera frame, far away
    "swap",  # checkpoint swap requests: a good one, then a corrupt one
    "task",  # switch to arm2/track and back
    "estop",  # e-stop, 'false' spam, reset through the service
    "overspeed",  # joints reported beyond their velocity limits
    "budget",  # planner budget far too small (planner_budget_fraction 0.05)
    "cpu",  # two CPU-bound processes beside the controller
)
DIAG_KEYS = (  # the controller's /diagnostics values kept in the log
    "ticks", "missed_ticks", "overruns", "planner_share", "planner_iterations_mean",
    "safety_state", "swaps", "swap_errors", "input_frame_errors", "watchdog_trips",
    "model_errors", "error", "estop",
)  # fmt: skip
FAULT_S = 1.0
CALM_S = 0.6


class Arm:
    """A damped double integrator per joint: I q'' = u - b q'."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.q = rng.uniform(-0.5, 0.5, 2)
        self.v = np.zeros(2)
        self.u = np.zeros(2)

    def step(self, dt: float) -> None:
        """Advance `dt` seconds under the last command (speeds capped at 1.5x the limits)."""
        acc = (self.u - 0.2 * self.v) / np.array([0.05, 0.03])
        self.v = np.clip(self.v + acc * dt, -1.5 * VEL_MAX, 1.5 * VEL_MAX)
        self.q = np.clip(self.q + self.v * dt, -2.8, 2.8)


class FaultRobot:
    """The robot process: publishes, listens, injects; `log` is what it saw."""

    def __init__(self, node, controller: str, good: str, corrupt: str, seed: int) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PointStamped
        from rcl_interfaces.srv import SetParameters
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray, String
        from std_srvs.srv import Trigger

        from m3po_ros.qos import COMMAND_QOS, DIAGNOSTICS_QOS, SENSOR_QOS

        self.node = node
        self.rng = np.random.default_rng(seed)
        self.arm = Arm(self.rng)
        self.good, self.corrupt = good, corrupt
        self.js_pub = node.create_publisher(JointState, "joint_states", SENSOR_QOS)
        self.goal_pub = node.create_publisher(PointStamped, "goal", SENSOR_QOS)
        self.estop_pub = node.create_publisher(Bool, f"{controller}/estop", 10)
        self.task_pub = node.create_publisher(String, f"{controller}/task", 10)
        self.ckpt_pub = node.create_publisher(String, f"{controller}/checkpoint", 10)
        self.reset = node.create_client(Trigger, f"{controller}/reset_estop")
        self.params = node.create_client(SetParameters, f"{controller}/set_parameters")
        node.create_subscription(Float64MultiArray, "joint_commands", self._on_cmd, COMMAND_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, DIAGNOSTICS_QOS)
        self.lock = threading.Lock()
        self.commands: list = []  # [t, u0, u1, length_ok, label_ok]
        self.states: list = []  # [t, v0, v1] of every state published
        self.windows: list = []  # {"fault", "t0", "t1", ...}
        self.events: list = []  # {"t", "what", ...}
        self.diag: list = []  # the controller's status rows (DIAG_KEYS, t, level, message)
        self.swaps_sent = 0
        self.goal = np.array([0.25, 0.1, 0.0])
        self.overspeed_dir = np.ones(2)

    # -- listening ---------------------------------------------------------------------------
    def _on_cmd(self, msg) -> None:
        t = time.monotonic()
        data = np.asarray(msg.data, float)
        label = msg.layout.dim[0].label if msg.layout.dim else ""
        ok_len = len(data) == 2
        u = data if ok_len else np.full(2, np.nan)
        with self.lock:
            self.commands.append([t, u[0], u[1], ok_len, label == ",".join(JOINTS)])
            if ok_len and np.all(np.isfinite(u)):
                self.arm.u = np.clip(u, -EFFORT_MAX, EFFORT_MAX)

    def _on_diag(self, msg) -> None:
        for st in msg.status:
            if st.name.endswith(": control"):
                v = {kv.key: kv.value for kv in st.values}
                row = {k: v.get(k) for k in DIAG_KEYS}
                level = st.level[0] if isinstance(st.level, bytes) else int(st.level)
                row.update(t=time.monotonic(), level=level)
                row["message"] = st.message
                self.diag.append(row)

    # -- publishing --------------------------------------------------------------------------
    def publish_state(self, fault: str = "", stamp_offset_s: float = 0.0) -> None:
        """Publish one JointState and the goal, with `fault` applied to them."""
        from m3po_ros.conversions import make_joint_state, make_point

        names, q, v = list(JOINTS), self.arm.q.copy(), self.arm.v.copy()
        if fault == "nan":
            q[self.rng.integers(2)] = self.rng.choice([np.nan, np.inf, -np.inf])
        elif fault == "reversed":
            names, q, v = names[::-1], q[::-1], v[::-1]
        elif fault == "shuffled":
            order = self.rng.permutation(2)
            names, q, v = [names[i] for i in order], q[order], v[order]
        elif fault == "missing_joint":
            names, q, v = names[:1], q[:1], v[:1]
        elif fault == "extra_joint":
            names, q, v = [*names, "gripper"], np.append(q, 0.3), np.append(v, 0.0)
        elif fault == "overspeed":  # one direction per window, so commands can be judged
            v = self.overspeed_dir * 1.3 * VEL_MAX
            self.arm.v = v.copy()
        now = self.node.get_clock().now()
        stamp = (now.nanoseconds + int(stamp_offset_s * 1e9)) if stamp_offset_s else None
        msg = make_joint_state(names, q, v, np.zeros(len(names)))
        if stamp is not None:
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(max(stamp, 0), 10**9)
        else:
            msg.header.stamp = now.to_msg()
        self.js_pub.publish(msg)
        if fault == "duplicated":
            self.js_pub.publish(msg)
        t = time.monotonic()
        with self.lock:
            self.states.append([t, *self.arm.v])
        wrong = fault == "wrong_frame"
        frame, goal = ("camera", self.goal + 100.0) if wrong else ("world", self.goal)
        point = make_point(goal, frame)
        point.header.stamp = msg.header.stamp
        self.goal_pub.publish(point)

    def set_param(self, name: str, value: float) -> None:
        """Set a controller parameter over its service (not waited for)."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        self.params.call_async(req)

    # -- the schedule ------------------------------------------------------------------------
    def run(self, seconds: float) -> None:
        """Cycle through FAULTS for `seconds`, calm stretches between them."""
        from std_msgs.msg import Bool, String
        from std_srvs.srv import Trigger

        period = 1.0 / RATE_HZ
        start = time.monotonic()
        i = 0
        burners: list[subprocess.Popen] = []
        while time.monotonic() - start < seconds:
            self._calm(CALM_S, period)
            fault = FAULTS[i % len(FAULTS)]
            i += 1
            window = {"fault": fault, "t0": time.monotonic()}
            if fault == "stale":
                silence = float(self.rng.uniform(0.2, 2.0))
                window["last_state"] = self.states[-1][0] if self.states else window["t0"]
                window["silence_s"] = silence
                time.sleep(silence)
            elif fault == "burst":
                for _ in range(200):
                    self.publish_state()
                    time.sleep(0.1 / 200)
            elif fault == "swap":  # a good checkpoint, then a corrupt one
                for path in (self.good, self.corrupt):
                    self.ckpt_pub.publish(String(data=path))
                    self.swaps_sent += 1
                    self._calm(FAULT_S / 2, period)
            elif fault == "task":
                self.task_pub.publish(String(data="arm2/track"))
                self._calm(FAULT_S / 2, period)
                self.task_pub.publish(String(data="arm2/reach"))
                self._calm(FAULT_S / 2, period)
            elif fault == "estop":
                self.estop_pub.publish(Bool(data=True))
                window["engaged"] = time.monotonic()
                self._calm(0.3, period)
                for _ in range(5):  # must not release it
                    self.estop_pub.publish(Bool(data=False))
                self._calm(0.4, period)
                window["reset_called"] = time.monotonic()
                future = self.reset.call_async(Trigger.Request())
                while not future.done() and time.monotonic() - window["reset_called"] < 2.0:
                    self._calm(period, period)
                reply = future.result() if future.done() else None
                window["reset_ok"] = bool(reply and reply.success)
                window["reset_reply"] = time.monotonic()
                self._calm(0.3, period)
            elif fault == "budget":
                self.set_param("planner_budget_fraction", 0.05)
                self._calm(FAULT_S, period)
                self.set_param("planner_budget_fraction", 0.6)
            elif fault == "cpu":
                burn = [sys.executable, "-c", "while True: pass"]
                burners = [subprocess.Popen(burn) for _ in range(2)]
                self._calm(FAULT_S * 2, period)
                for b in burners:
                    b.kill()
                    b.wait()
            else:
                if fault == "overspeed":
                    self.overspeed_dir = np.where(self.rng.random(2) < 0.5, -1.0, 1.0)
                    window["direction"] = self.overspeed_dir.tolist()
                t_end = time.monotonic() + FAULT_S
                offset = 0.0
                while time.monotonic() < t_end:
                    if fault == "out_of_order":
                        offset = float(self.rng.uniform(-0.5, 0.5))
                    self._step_and_publish(period, fault, offset)
            window["t1"] = time.monotonic()
            self.windows.append(window)

    def _step_and_publish(self, period: float, fault: str = "", offset: float = 0.0) -> None:
        t0 = time.monotonic()
        with self.lock:
            self.arm.step(period)
        self.publish_state(fault, offset)
        time.sleep(max(0.0, period - (time.monotonic() - t0)))

    def _calm(self, seconds: float, period: float) -> None:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            self._step_and_publish(period)

    def dump(self, path: str) -> None:
        """Write what the robot saw and did to `path` (JSON, atomically)."""
        with self.lock:
            data = {
                "joints": list(JOINTS),
                "effort_max": EFFORT_MAX.tolist(),
                "vel_max": VEL_MAX.tolist(),
                "rate_hz": RATE_HZ,
                "commands": self.commands,
                "states": self.states,
                "windows": self.windows,
                "diagnostics": self.diag,
            }
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the misbehaving robot for --seconds, then write its log."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--log", required=True, help="JSON log written at the end")
    ap.add_argument("--controller", default="/controller", help="the controller node's name")
    ap.add_argument("--good", required=True, help="a checkpoint the controller may swap to")
    ap.add_argument("--corrupt", required=True, help="a corrupt checkpoint it must refuse")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait-commands", type=float, default=60.0, help="s to wait for the first")
    args = ap.parse_args(argv)
    rclpy.init()
    node = Node("fault_robot")
    robot = FaultRobot(node, args.controller, args.good, args.corrupt, args.seed)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    try:
        t0 = time.monotonic()  # behave until the controller commands, then start the faults
        while not robot.commands and time.monotonic() - t0 < args.wait_commands:
            robot._calm(0.1, 1.0 / RATE_HZ)
        if not robot.commands:
            print("fault_robot: no command from the controller", file=sys.stderr)
            return 2
        robot._calm(1.0, 1.0 / RATE_HZ)
        robot.run(args.seconds)
        return 0
    finally:
        robot.dump(args.log)
        executor.shutdown()
        spin.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
