"""controller_node over real DDS: lifecycle, watchdog, NaN, limits, hot-swap, bad inputs."""

from __future__ import annotations

import gc
import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PointStamped
from lifecycle_msgs.msg import Transition
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import change_state, get_state, set_param, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger

from m3po_ros.autostart import autostart
from m3po_ros.controller_node import ControllerNode
from m3po_ros.controller_status import RUN_STATS
from m3po_ros.conversions import make_joint_state, make_point
from m3po_ros.diagnostics import values_of
from m3po_ros.params import ParamError

TASK = "arm2/reach"
EFFORT_MAX = np.array([6.0, 3.0])  # arm2 URDF effort limits (shoulder, elbow)


class FakeRobot:
    """Publishes arm2 joint_states and goal from a thread, like a robot driver would."""

    def __init__(self, ros, rate_hz: float = 100.0, seed: int = 0) -> None:
        from m3po_learning.envs import make_env

        self.env = make_env(TASK, seed)
        self.env.reset(seed)
        self.rng = np.random.default_rng(seed)
        self.js = ros.publisher(JointState, "joint_states", qos_profile_sensor_data)
        self.goal = ros.publisher(PointStamped, "goal", qos_profile_sensor_data)
        self.period = 1.0 / rate_hz
        self.paused = False
        self.nan = False
        self.random_states = False
        self.send_goal = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            if self.paused:
                continue
            names, pos, vel, _ = self.env.joint_state()
            if self.random_states:  # anywhere in and a little past the limits, fast
                pos = self.rng.uniform(-3.0, 3.0, len(names))
                vel = self.rng.uniform(-6.0, 6.0, len(names))
            if self.nan:
                pos = pos.copy()
                pos[1] = float("nan")
            self.js.publish(make_joint_state(list(names)[::-1], pos[::-1], vel[::-1]))
            if self.send_goal:
                self.goal.publish(make_point(self.env.task_inputs()["goal"]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_controller(ros, checkpoint, **params) -> ControllerNode:
    values = {
        "checkpoint": str(checkpoint),
        "task": TASK,
        "autostart": True,
        "use_planner": False,
        "diagnostics_period_s": 0.1,
        # the pytest base directory: holds both test checkpoints and every tmp_path
        "checkpoint_roots": str(Path(checkpoint).parent.parent),
        **params,
    }
    overrides = [Parameter(k, value=v) for k, v in values.items()]
    node = ControllerNode(context=ros.context, parameter_overrides=overrides)
    autostart(node)  # configure + activate from outside, as the bringup does
    return ros.spin(node)


def latest_control_status(diags) -> dict[str, str]:
    latest = level_of(diags)
    return latest[2] if latest is not None else {}


def commands_array(cmds) -> np.ndarray:
    return np.array([list(m.data) for _, m in cmds]).reshape(-1, 2)


def test_lifecycle_transitions(ros, random_checkpoint):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 100)
    robot = FakeRobot(ros)
    try:
        node = ros.spin(
            ControllerNode(
                context=ros.context,
                parameter_overrides=[
                    Parameter("task", value=TASK),
                    Parameter("use_planner", value=False),
                    # a checkpoint set later (parameter service) must lie under these
                    Parameter("checkpoint_roots", value=str(random_checkpoint.parent)),
                ],
            )
        )
        assert get_state(ros, "/controller") == "unconfigured"
        # No checkpoint: configure fails and the node stays unconfigured.
        assert not change_state(ros, "/controller", Transition.TRANSITION_CONFIGURE)
        assert get_state(ros, "/controller") == "unconfigured"
        assert set_param(ros, "/controller", "checkpoint", str(random_checkpoint)).successful
        assert change_state(ros, "/controller", Transition.TRANSITION_CONFIGURE)
        assert get_state(ros, "/controller") == "inactive"
        time.sleep(0.3)
        assert cmds == []  # inactive: nothing on the command topic
        assert change_state(ros, "/controller", Transition.TRANSITION_ACTIVATE)
        assert get_state(ros, "/controller") == "active"
        wait_for(lambda: len(cmds) >= 20, 10, "commands while active")
        assert np.any(commands_array(cmds) != 0)
        # Active: Python's collector runs only between ticks.
        assert node.gc.active and not gc.isenabled()
        assert change_state(ros, "/controller", Transition.TRANSITION_DEACTIVATE)
        assert get_state(ros, "/controller") == "inactive"
        assert gc.isenabled() and not node.gc.active
        time.sleep(0.2)
        n = len(cmds)
        np.testing.assert_array_equal(cmds[-1][1].data, [0.0, 0.0])  # left at zero effort
        time.sleep(0.3)
        assert len(cmds) == n
        assert change_state(ros, "/controller", Transition.TRANSITION_CLEANUP)
        assert get_state(ros, "/controller") == "unconfigured"
        assert node.loop is None
        assert change_state(ros, "/controller", Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert get_state(ros, "/controller") == "finalized"
    finally:
        robot.stop()


def test_watchdog_trips_when_joint_states_stop_and_recovers(ros, random_checkpoint):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 100)
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    robot = FakeRobot(ros)
    try:
        start_controller(ros, random_checkpoint, sensor_timeout_s=0.1)
        wait_for(lambda: latest_control_status(diags).get("watchdog") == "ok", 10, "watchdog ok")
        wait_for(lambda: np.any(commands_array(cmds)[-5:] != 0), 5, "model commands")
        robot.paused = True
        wait_for(
            lambda: latest_control_status(diags).get("watchdog") == "stale", 5, "watchdog to trip"
        )
        status = latest_control_status(diags)
        assert status["safety_state"] == "stale" and int(status["watchdog_trips"]) == 1
        time.sleep(0.15)
        np.testing.assert_array_equal(commands_array(cmds)[-3:], 0.0)  # safe command held
        robot.paused = False
        wait_for(lambda: latest_control_status(diags).get("watchdog") == "ok", 5, "recovery")
        wait_for(lambda: np.any(commands_array(cmds)[-3:] != 0), 5, "commands again")
    finally:
        robot.stop()


def test_nan_input_never_reaches_command_topic(ros, random_checkpoint):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 100)
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    robot = FakeRobot(ros)
    try:
        start_controller(ros, random_checkpoint)
        wait_for(lambda: len(cmds) >= 10, 10, "commands")
        robot.nan = True
        wait_for(
            lambda: int(latest_control_status(diags).get("rejected_sensors", 0)) >= 10,
            5,
            "NaN readings to be rejected",
        )
        time.sleep(0.1)
        robot.nan = False
        time.sleep(0.3)
        data = commands_array(cmds)
        assert np.all(np.isfinite(data))
        assert latest_control_status(diags)["safety_state"] == "ok"
    finally:
        robot.stop()


@pytest.mark.parametrize("fraction", [0.5])
def test_commands_within_limits_under_random_models(
    ros, random_checkpoint, random_checkpoint_b, fraction
):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 1000)
    robot = FakeRobot(ros, rate_hz=200)
    robot.random_states = True
    rate = 10.0  # effort limits per second
    try:
        node = start_controller(
            ros,
            random_checkpoint,
            max_effort_fraction=fraction,
            max_effort_rate=rate,
            control_rate_hz=100.0,
            use_planner=True,
        )
        wait_for(lambda: len(cmds) >= 60, 10, "commands")
        ros.publisher(String, "/controller/checkpoint").publish(
            String(data=str(random_checkpoint_b))
        )
        wait_for(lambda: node.loop.swaps == 1, 20, "second random model")
        n = len(cmds)
        wait_for(lambda: len(cmds) >= n + 60, 10, "commands of the second model")
    finally:
        robot.stop()
    data = commands_array(cmds)
    assert np.all(np.isfinite(data))
    assert np.all(np.abs(data) <= fraction * EFFORT_MAX + 1e-9)
    # Rate limit per tick (messages may be lost by none: reliable, depth 1000).
    step = np.abs(np.diff(data, axis=0))
    assert np.all(step <= rate * EFFORT_MAX * 0.01 + 1e-9)
    assert np.abs(data).max() > 0.1  # the models did drive the joints


def test_hot_swap_without_missed_tick_and_corrupt_checkpoint_refused(
    ros, random_checkpoint, random_checkpoint_b, tmp_path
):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 1000)
    robot = FakeRobot(ros)
    swap = ros.publisher(String, "/controller/checkpoint")
    try:
        node = start_controller(ros, random_checkpoint, use_planner=True)
        wait_for(lambda: len(cmds) >= 25, 10, "commands")
        missed_before = node.missed_ticks
        swap.publish(String(data=str(random_checkpoint_b)))
        wait_for(lambda: node.loop.swaps == 1, 20, "hot swap")
        time.sleep(0.2)
        assert node.checkpoint_path == str(random_checkpoint_b)
        # A blocking load would have made the timer skip its periods for the whole load
        # (that a request never waits for a load: test_checkpoint_loader). On a shared
        # 2-core machine the loader thread still competes for the GIL and a core, so a
        # tick or two may slip; blocking would lose every period of the load.
        load_periods = node.loader.last_load_s * node.params.control_rate_hz
        missed = node.missed_ticks - missed_before
        print(f"hot swap: load {load_periods:.1f} periods, {missed} ticks missed")
        assert load_periods >= 8, f"load took {node.loader.last_load_s:.3f} s: too short to tell"
        assert missed <= max(2, load_periods / 4), (missed, load_periods)

        # A truncated checkpoint and a missing one: refused, the running model stays.
        bad = tmp_path / "corrupt"
        shutil.copytree(random_checkpoint, bad)
        weights = bad / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        n = len(cmds)
        swap.publish(String(data=str(bad)))
        wait_for(lambda: node.swap_errors == 1, 10, "corrupt checkpoint refused")
        assert "truncated" in node.last_swap_error
        swap.publish(String(data=str(tmp_path / "missing")))
        wait_for(lambda: node.swap_errors == 2, 10, "missing checkpoint refused")
        assert "does not exist" in node.last_swap_error
        assert node.loop.swaps == 1 and node.checkpoint_path == str(random_checkpoint_b)
        wait_for(lambda: len(cmds) >= n + 20, 5, "commands after refusals")
    finally:
        robot.stop()


def test_realtime_tick_thread_and_collection_between_ticks(ros, random_checkpoint):
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    robot = FakeRobot(ros)
    try:
        node = start_controller(ros, random_checkpoint, realtime_priority=10)
        wait_for(
            lambda: float(latest_control_status(diags).get("ticks", 0)) >= 60,
            10,
            "diagnostics after 60 ticks",
        )
        v = latest_control_status(diags)
        if os.geteuid() == 0:  # root may use SCHED_FIFO: the tick thread does
            assert v["realtime"] == "SCHED_FIFO 10"
        else:
            assert "not permitted" in v["realtime"] or v["realtime"] == "SCHED_FIFO 10"
        assert v["gc_managed"] == "True" and int(v["gc_collections"]) >= 1
        assert math.isfinite(float(v["gc_ms_max"]))  # how long they take: bench/
        # Percentiles over every tick since activation are reported next to the recent ones
        # (what they compute: test_tick_stats, test_controller_status).
        for name in RUN_STATS:
            for q in ("p50", "p99", "max"):
                assert math.isfinite(float(v[f"{name}_ms_{q}_since_activate"])), (name, q)
        assert node.missed_ticks == int(v["missed_ticks"])
    finally:
        robot.stop()


def test_bad_parameters_refused(ros, random_checkpoint):
    with pytest.raises(ParamError, match=r"'control_rate_hz'=5000.0 is out of range"):
        ControllerNode(
            context=ros.context,
            node_name="bad",
            parameter_overrides=[Parameter("control_rate_hz", value=5000.0)],
        )
    with pytest.raises(ParamError, match=r"'realtime_priority'=120 is out of range"):
        ControllerNode(
            context=ros.context,
            node_name="bad3",
            parameter_overrides=[Parameter("realtime_priority", value=120)],
        )
    with pytest.raises(ParamError, match=r"'device'='tpu'"):
        ControllerNode(
            context=ros.context,
            node_name="bad2",
            parameter_overrides=[Parameter("device", value="tpu")],
        )
    start_controller(ros, random_checkpoint, autostart=False)
    result = set_param(ros, "/controller", "planner_budget_fraction", 2.0)
    assert not result.successful and "planner_budget_fraction" in result.reason
    assert "2.0" in result.reason
    assert set_param(ros, "/controller", "planner_budget_fraction", 0.5).successful


def test_checkpoint_from_a_topic_loads_only_inside_the_roots(
    ros, random_checkpoint, random_checkpoint_b, tmp_path
):
    robot = FakeRobot(ros)
    swap = ros.publisher(String, "/controller/checkpoint")
    (tmp_path / "escape").symlink_to(random_checkpoint_b)
    try:
        node = start_controller(ros, random_checkpoint, checkpoint_roots=str(tmp_path))
        # random_checkpoint's own directory is trusted; random_b lies in another one.
        assert node.roots == (tmp_path.resolve(), random_checkpoint.parent.resolve())
        for n, path in enumerate(
            (random_checkpoint_b, tmp_path / "escape", tmp_path / ".." / "x", ""), start=1
        ):
            swap.publish(String(data=str(path)))
            wait_for(lambda n=n: node.swap_errors == n, 10, f"refusal of {path}")
        assert "outside the allowed roots" in node.last_swap_error or "empty" in (
            node.last_swap_error
        )
        assert node.loop.swaps == 0 and node.checkpoint_path == str(random_checkpoint)
        inside = shutil.copytree(random_checkpoint_b, tmp_path / "good")
        swap.publish(String(data=str(inside)))
        wait_for(lambda: node.loop.swaps == 1, 20, "the checkpoint inside the roots")
    finally:
        robot.stop()


def test_missing_goal_is_a_warning_with_the_reason_then_clears(ros, random_checkpoint):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 1000)
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    robot = FakeRobot(ros)
    robot.send_goal = False
    try:
        node = start_controller(ros, random_checkpoint)
        wait_for(lambda: len(cmds) >= 20, 10, "commands")
        wait_for(lambda: level_of(diags) is not None, 5, "a control status")
        level, message, values = level_of(diags)
        assert level == DiagnosticStatus.WARN, message
        assert "waiting for task input" in message and "'goal'" in message
        assert "waiting for task input" in values["error"]
        np.testing.assert_array_equal(commands_array(cmds), 0.0)  # documented: zero effort
        robot.send_goal = True
        wait_for(lambda: level_of(diags)[0] == DiagnosticStatus.OK, 5, "the goal to arrive")
        assert level_of(diags)[2]["error"] == ""
        assert "waiting for task input" in level_of(diags)[2]["last_error"]
        n = len(cmds)
        wait_for(lambda: len(cmds) >= n + 10, 5, "commands with a goal")
        assert np.abs(commands_array(cmds)[-5:]).max() > 0.0
        assert node.tick_log.error == ""
    finally:
        robot.stop()


def level_of(diags):
    for _, msg in reversed(diags):
        for status in msg.status:
            if status.name.endswith(": control"):
                return status.level, status.message, values_of(status)
    return None


def test_task_switch_and_estop(ros, random_checkpoint):
    cmds = ros.collect(Float64MultiArray, "joint_commands", 100)
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    robot = FakeRobot(ros)
    try:
        node = start_controller(ros, random_checkpoint)
        wait_for(lambda: len(cmds) >= 10, 10, "commands")
        task = ros.publisher(String, "/controller/task")
        task.publish(String(data="arm2/track"))
        wait_for(lambda: node.loop.task == "arm2/track", 5, "task switch")
        task.publish(String(data="pendulum/swingup"))  # another robot: refused
        time.sleep(0.3)
        assert node.loop.task == "arm2/track"
        ros.publisher(Bool, "/controller/estop").publish(Bool(data=True))
        wait_for(lambda: latest_control_status(diags).get("estop") == "True", 5, "e-stop")
        time.sleep(0.1)
        np.testing.assert_array_equal(commands_array(cmds)[-3:], 0.0)
        assert latest_control_status(diags)["safety_state"] == "estop"
        # Latched: a 'false' (repeated) never releases it; a reset does, once no 'true'
        # has come for hold_s, and the commands come back.
        estop = ros.publisher(Bool, "/controller/estop")
        estop.publish(Bool(data=True))
        reply = ros.call(Trigger, "/controller/reset_estop", Trigger.Request())
        assert not reply.success and "still asserted" in reply.message
        for _ in range(3):
            estop.publish(Bool(data=False))
        time.sleep(node.estop_latch.hold_s + 0.1)
        assert node.loop.estop
        n = len(cmds)
        wait_for(lambda: len(cmds) >= n + 5, 5, "commands under e-stop")
        np.testing.assert_array_equal(commands_array(cmds)[-5:], 0.0)
        reply = ros.call(Trigger, "/controller/reset_estop", Trigger.Request())
        assert reply.success and reply.message == "e-stop released"
        wait_for(lambda: latest_control_status(diags).get("estop") == "False", 5, "release")
        n = len(cmds)
        wait_for(lambda: len(cmds) >= n + 10, 5, "commands after the reset")
        assert np.abs(commands_array(cmds)[-5:]).max() > 0.0
    finally:
        robot.stop()


def test_gravity_compensation_mismatch_refused_at_configure(ros, random_checkpoint):
    """arm7 was trained with gravity cancelled: `off` cannot configure, `auto` adds it here."""
    node = start_controller(
        ros, random_checkpoint, task="arm7/reach", autostart=False, gravity_compensation="off"
    )
    assert not change_state(ros, "/controller", Transition.TRANSITION_CONFIGURE)
    assert get_state(ros, "/controller") == "unconfigured" and node.loop is None
    assert set_param(ros, "/controller", "gravity_compensation", "auto").successful
    assert not set_param(ros, "/controller", "gravity_compensation", "maybe").successful
    assert change_state(ros, "/controller", Transition.TRANSITION_CONFIGURE)
    assert node.loop.context.gravity_mode == "controller"
    assert node.loop.context.gravity is not None
