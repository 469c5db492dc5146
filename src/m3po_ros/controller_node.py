"""`controller_node`: lifecycle node running a checkpoint at a fixed rate with a hard budget."""

from __future__ import annotations

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String

from m3po_ros.control_loop import (
    ControlError,
    ControlLoop,
    Histogram,
    RollingStats,
    SensorSnapshot,
)
from m3po_ros.conversions import (
    MessageError,
    array_to_msg,
    command_to_msg,
    joint_state_to_dicts,
    point_to_array,
)
from m3po_ros.diagnostics import ERROR, OK, WARN, make_array, make_status
from m3po_ros.node_main import spin_node
from m3po_ros.params import ControllerParams, ParamError, declare_from_dataclass
from m3po_ros.realtime import TickGC, make_thread_realtime
from m3po_ros.safety import SafetyConfig, SafetyState

# Latched announcements: a controller that starts late still gets the learner's last one.
CHECKPOINT_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def set_realtime_switch_interval() -> None:
    """Let the control thread get the GIL back within 0.5 ms (default 5 ms) from loader threads."""
    sys.setswitchinterval(0.0005)


class ControllerNode(LifecycleNode):
    """Sensor topics -> observation -> budgeted act -> safety layer -> `joint_commands`."""

    def __init__(self, node_name: str = "controller", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # What destroy_node() needs exists before parameters are checked: a node refused for
        # a bad parameter is still destroyed with its context.
        self.gc = TickGC()
        self._loader: threading.Thread | None = None
        self._next_path: str | None = None
        self._loader_lock = threading.Lock()
        self.params = declare_from_dataclass(self, ControllerParams)
        self.loop: ControlLoop | None = None
        self._joint = (None, {}, {})  # (arrival monotonic s, positions, velocities)
        self._inputs: dict = {}
        self._pubs, self._subs = [], []
        self._tick_timer = None
        self._diag_timer = None
        self._cmd_pub = None
        self._obs_pub = None
        self.swap_errors = 0
        self.last_swap_error = ""
        self.checkpoint_path = ""
        self.latency_ms = RollingStats()  # joint_states arrival -> command published
        self.overhead_ms = RollingStats()  # tick time outside act(), incl. publishing
        self.compute_ms = RollingStats()  # timer tick -> command published
        # The same three over every tick since activation (soak runs: 60,000 ticks and more).
        self.run_hist = {k: Histogram() for k in ("latency", "overhead", "compute", "act")}
        self.realtime = "not started"  # "" once the tick thread runs SCHED_FIFO, else why not
        self._rt_threads: set[int] = set()
        self._swaps_seen = 0
        self._diagnostics_due = False
        self._reset_tick_clock()
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._waiting_sub = None
        if self.params.autostart and not self.params.checkpoint and self.params.follow_learner:
            # Nothing to load yet: start with the learner's first announced checkpoint.
            self.get_logger().info(f"waiting for a checkpoint on {self.params.learner_topic}")
            self._waiting_sub = self.create_subscription(
                String, self.params.learner_topic, self._on_first_checkpoint, CHECKPOINT_QOS
            )
        elif self.params.autostart:
            self._autostart()

    def _autostart(self) -> None:
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _on_first_checkpoint(self, msg: String) -> None:
        from rclpy.parameter import Parameter

        if self._waiting_sub is None:
            return
        self.destroy_subscription(self._waiting_sub)
        self._waiting_sub = None
        self.set_parameters([Parameter("checkpoint", value=msg.data)])
        self._autostart()

    # -- parameters ------------------------------------------------------------------------
    def _read_params(self) -> ControllerParams:
        values = {
            name: self.get_parameter(name).value for name in ControllerParams.__dataclass_fields__
        }
        return ControllerParams(**values)

    def _reset_tick_clock(self) -> None:
        self._t_first = None
        for h in getattr(self, "run_hist", {}).values():
            h.clear()
        self.ticks = 0
        self.missed_ticks = 0

    # -- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        import torch

        from m3po_learning.checkpoint import CheckpointError, load_agent

        try:
            self.params = p = self._read_params()
        except ParamError as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        torch.set_num_threads(p.num_threads)
        if not p.checkpoint:
            self.get_logger().error("parameter 'checkpoint' is empty: nothing to load")
            return TransitionCallbackReturn.FAILURE
        try:
            agent = load_agent(
                p.checkpoint, device=p.device, overrides=p.planner_overrides.split()
            )
            safety = SafetyConfig(
                p.max_effort_fraction, p.max_effort_rate, p.position_margin, p.sensor_timeout_s
            )
            loop = ControlLoop(
                agent, p.task or None, safety, p.period_s, p.use_planner, p.planner_budget_fraction
            )
            loop.contexts = loop.prepare(agent)  # warm-up: first calls allocate
        except (CheckpointError, ControlError, ValueError) as exc:
            self.get_logger().error(f"cannot configure with checkpoint {p.checkpoint!r}: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.loop = loop
        self.checkpoint_path = str(agent.checkpoint_path)
        self._cmd_pub = self.create_lifecycle_publisher(
            Float64MultiArray, "joint_commands", COMMAND_QOS
        )
        if p.publish_observation:
            self._obs_pub = self.create_lifecycle_publisher(
                Float64MultiArray, "~/observation", COMMAND_QOS
            )
        self._subs = [
            self.create_subscription(
                JointState, "joint_states", self._on_joint_state, qos_profile_sensor_data
            ),
            self.create_subscription(String, "~/task", self._on_task, 10),
            self.create_subscription(String, "~/checkpoint", self._on_checkpoint, 10),
            self.create_subscription(Bool, "~/estop", self._on_estop, 10),
        ]
        inputs = sorted({n for c in loop.contexts.values() for n in c.obs_spec.input_names})
        for name in inputs:
            self._subs.append(
                self.create_subscription(
                    PointStamped,
                    name,
                    lambda msg, n=name: self._on_input(n, msg),
                    qos_profile_sensor_data,
                )
            )
        if p.follow_learner:
            self._subs.append(
                self.create_subscription(
                    String, p.learner_topic, self._on_checkpoint, CHECKPOINT_QOS
                )
            )
        self._diag_timer = self.create_timer(p.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f"configured: checkpoint {self.checkpoint_path}, task {loop.task}, "
            f"{p.control_rate_hz} Hz, planner {'on' if p.use_planner else 'off'} "
            f"(budget {loop.budget_ms():.1f} ms)"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.loop.context.safety.reset()
        self._reset_tick_clock()
        self._rt_threads.clear()  # the first tick (re)applies realtime_priority
        if self.params.manage_gc:
            self.gc.start()
        self._tick_timer = self.create_timer(self.params.period_s, self._on_tick)
        self.get_logger().info("active: publishing joint_commands")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_ticking()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_ticking()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _stop_ticking(self) -> None:
        self.gc.stop()
        if self._tick_timer is not None:
            self.destroy_timer(self._tick_timer)
            self._tick_timer = None
            # Leave the actuators at zero effort, not at the last torque.
            self._cmd_pub.publish(
                command_to_msg(self.loop.stop_command(), self.loop.context.joint_names)
            )

    def _teardown(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        for pub in (self._cmd_pub, self._obs_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._cmd_pub = self._obs_pub = None
        self.loop = None

    def destroy_node(self) -> None:
        self.gc.stop()  # a node destroyed while active hands the collector back too
        self._join_loader()
        super().destroy_node()

    def _join_loader(self, timeout_s: float = 30.0) -> None:
        """Drop queued checkpoints and wait for a load in progress: a daemon thread still
        inside torch when the interpreter exits aborts the process."""
        with self._loader_lock:
            self._next_path = None
            loader = self._loader
        if loader is not None and loader.is_alive():
            loader.join(timeout=timeout_s)

    # -- inputs ----------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            positions, velocities = joint_state_to_dicts(msg)
        except MessageError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)
            return
        self._joint = (time.monotonic(), positions, velocities)

    def _on_input(self, name: str, msg: PointStamped) -> None:
        self._inputs = {**self._inputs, name: point_to_array(msg)}

    def _on_task(self, msg: String) -> None:
        try:
            self.loop.set_task(msg.data)
            self.get_logger().info(f"task switched to {msg.data!r}")
        except ControlError as exc:
            self.get_logger().error(f"task switch refused: {exc}")

    def _on_estop(self, msg: Bool) -> None:
        self.loop.set_estop(bool(msg.data))
        self.get_logger().warning(f"e-stop {'ENGAGED' if msg.data else 'released'}")

    # -- hot swap --------------------------------------------------------------------------
    def _on_checkpoint(self, msg: String) -> None:
        if msg.data == self.checkpoint_path:
            return
        with self._loader_lock:
            self._next_path = msg.data
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(
                    target=self._load_loop, daemon=True, name="checkpoint-loader"
                )
                self._loader.start()

    def _load_loop(self) -> None:
        from m3po_learning.checkpoint import CheckpointError, load_agent

        while True:
            with self._loader_lock:
                path, self._next_path = self._next_path, None
            if path is None or self.loop is None:
                return
            try:
                agent = load_agent(
                    path,
                    device=self.params.device,
                    overrides=self.params.planner_overrides.split(),
                )
                self.loop.offer(agent, self.loop.prepare(agent))
                self.checkpoint_path = str(agent.checkpoint_path)
                self.get_logger().info(f"hot-swapped to checkpoint {self.checkpoint_path}")
            except (CheckpointError, ControlError, ValueError, OSError) as exc:
                self.swap_errors += 1
                self.last_swap_error = f"{path}: {exc}"
                self.get_logger().error(f"checkpoint refused, keeping the running one: {exc}")

    # -- the tick --------------------------------------------------------------------------
    def _on_tick(self) -> None:
        now = time.monotonic()
        period = self.params.period_s
        if self._t_first is None:
            self._t_first = now
        first_on_thread = threading.get_ident() not in self._rt_threads
        if first_on_thread:  # a system call now; logging waits until the command is out
            self._rt_threads.add(threading.get_ident())
            self.realtime = make_thread_realtime(self.params.realtime_priority)
        self.ticks += 1
        # rcl timers skip periods they could not serve: expected minus served is missed.
        expected = int((now - self._t_first) / period + 0.5) + 1
        newly_missed = expected - self.ticks - self.missed_ticks
        if newly_missed > 0:
            self.missed_ticks += newly_missed
        stamp, positions, velocities = self._joint
        snap = SensorSnapshot(positions, velocities, self._inputs, stamp)
        res = self.loop.tick(snap, now)
        self._cmd_pub.publish(command_to_msg(res.command, self.loop.context.joint_names))
        done = time.monotonic()
        if res.state == SafetyState.OK:
            latency, compute = (done - stamp) * 1000.0, (done - now) * 1000.0
            self.latency_ms.add(latency)
            self.overhead_ms.add(compute - res.act_ms)
            self.compute_ms.add(compute)
            hist = self.run_hist
            hist["latency"].add(latency)
            hist["overhead"].add(compute - res.act_ms)
            hist["compute"].add(compute)
            hist["act"].add(res.act_ms)
        if self._obs_pub is not None and res.obs is not None:
            self._obs_pub.publish(array_to_msg(res.obs))
        # The command is out: the rest of the period is slack for logging, diagnostics and
        # the garbage collector, which therefore never delay a command.
        if first_on_thread:
            self._log_realtime()
        if newly_missed > 0:
            self._log_missed(newly_missed, now)
        if self._diagnostics_due:
            self._diagnostics_due = False
            self._send_diagnostics()
        if self.loop.swaps != self._swaps_seen:
            self._swaps_seen = self.loop.swaps
            self.gc.refreeze()
        else:
            self.gc.after_tick()

    def _log_realtime(self) -> None:
        if self.realtime and self.params.realtime_priority > 0:
            self.get_logger().warning(f"tick thread stays at normal priority: {self.realtime}")
        elif not self.realtime:
            self.get_logger().info(
                f"tick thread runs SCHED_FIFO priority {self.params.realtime_priority}"
            )

    def _log_missed(self, count: int, now: float) -> None:
        period = self.params.period_s
        late_ms = ((now - self._t_first) % period) * 1000.0
        self.get_logger().warning(
            f"tick {self.ticks}: {count} control period(s) missed (this callback came "
            f"{late_ms:.1f} ms into its period; slowest recent tick "
            f"{self.loop.tick_ms.max():.1f} ms; last garbage collection {self.gc.last_ms:.2f} ms)",
            throttle_duration_sec=1.0,
        )

    # -- diagnostics -----------------------------------------------------------------------
    def diagnostics_values(self) -> dict[str, object]:
        loop = self.loop
        state = loop.context.safety.state
        counters = loop.context.safety.counters
        return {
            "task": loop.task,
            "checkpoint": self.checkpoint_path,
            "active": self._tick_timer is not None,
            "control_rate_hz": self.params.control_rate_hz,
            "ticks": self.ticks,
            "missed_ticks": self.missed_ticks,
            "overruns": loop.overruns,
            "tick_ms_p50": loop.tick_ms.percentile(50),
            "tick_ms_p99": loop.tick_ms.percentile(99),
            "tick_ms_max": loop.tick_ms.max(),
            "act_ms_p50": loop.act_ms.percentile(50),
            "act_ms_p99": loop.act_ms.percentile(99),
            "budget_ms": loop.budget_ms(),
            "budget_margin_ms": loop.margin_ms,
            "planner_iterations_mean": (
                sum(loop.iterations.values) / max(len(loop.iterations.values), 1)
            ),
            "latency_ms_p50": self.latency_ms.percentile(50),
            "latency_ms_p99": self.latency_ms.percentile(99),
            "tick_to_command_ms_p50": self.compute_ms.percentile(50),
            "tick_to_command_ms_p99": self.compute_ms.percentile(99),
            "overhead_ms_p50": self.overhead_ms.percentile(50),
            "overhead_ms_p99": self.overhead_ms.percentile(99),
            "watchdog": "stale" if state in (SafetyState.STALE, SafetyState.NO_SENSORS) else "ok",
            "safety_state": state.value,
            "estop": loop.estop,
            "watchdog_trips": counters.watchdog_trips,
            "rejected_sensors": counters.rejected_sensors,
            "rejected_commands": counters.rejected_commands,
            "effort_clips": counters.effort_clips,
            "rate_clips": counters.rate_clips,
            "model_errors": loop.model_errors,
            "swaps": loop.swaps,
            "swap_errors": self.swap_errors,
            "last_swap_error": self.last_swap_error,
            **{
                f"{name}_ms_{q}_since_activate": h.percentile(p)
                for name, h in self.run_hist.items()
                for q, p in (("p50", 50), ("p99", 99), ("max", 100))
            },
            "realtime": self.realtime or f"SCHED_FIFO {self.params.realtime_priority}",
            "gc_managed": self.gc.active,
            "gc_collections": self.gc.collections,
            "gc_ms_max": self.gc.max_ms,
        }

    def _publish_diagnostics(self) -> None:
        if self.loop is None:
            return
        if self._tick_timer is not None:
            self._diagnostics_due = True  # sent by the next tick, once its command is out
            return
        self._send_diagnostics()

    def _send_diagnostics(self) -> None:
        v = self.diagnostics_values()
        if v["estop"] or (v["active"] and v["watchdog"] == "stale"):
            level, text = ERROR, f"safe command: {v['safety_state']}"
        elif v["missed_ticks"] or v["swap_errors"]:
            level, text = WARN, f"missed ticks {v['missed_ticks']}, swap errors {v['swap_errors']}"
        else:
            level, text = OK, "running" if v["active"] else "inactive"
        status = make_status(
            f"{self.get_fully_qualified_name()}: control", "m3po_controller", level, text, v
        )
        self._diag_pub.publish(make_array(self.get_clock().now().to_msg(), status))


def main(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run m3po_ros controller_node`."""
    set_realtime_switch_interval()
    return spin_node(ControllerNode, "controller_node", args)


if __name__ == "__main__":
    sys.exit(main())
