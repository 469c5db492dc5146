"""`controller_node`: lifecycle node running a checkpoint at a fixed rate with a hard budget."""

from __future__ import annotations

import functools
import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, PoseStamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from m3po_ros import topics
from m3po_ros.checkpoint_loader import CheckpointLoader
from m3po_ros.command_interface import resolve_interface
from m3po_ros.command_order import CommandOrder, parse_joint_list
from m3po_ros.control_loop import ControlError, ControlLoop, load_control_loop
from m3po_ros.controller_status import RUN_STATS, RunInfo, controller_level, controller_values
from m3po_ros.conversions import (
    MessageError,
    array_to_msg,
    command_to_msg,
    setpoint_to_trajectory,
)
from m3po_ros.diagnostics import make_array, make_status
from m3po_ros.node_main import spin_node
from m3po_ros.params import ControllerParams, ParamError, declare_from_dataclass
from m3po_ros.path_guard import checkpoint_roots, resolve_inside
from m3po_ros.qos import CHECKPOINT_QOS, COMMAND_QOS, DIAGNOSTICS_QOS, SENSOR_QOS
from m3po_ros.realtime import TickGC, make_thread_realtime
from m3po_ros.safety import EStopLatch, SafetyState
from m3po_ros.stamped_inputs import SensorInputs
from m3po_ros.tick_log import TickLog
from m3po_ros.tick_stats import TickClock, TickStats

GRAVITY_SAYS = {
    "controller": "added by this node (URDF gravity torques)",
    "driver": "by the robot's driver",
    "off": "none (trained with gravity acting)",
}

# A refused hot-swap checkpoint raises one of these (CheckpointError and ControlError are
# RuntimeErrors); the running model stays.
SWAP_ERRORS = (RuntimeError, ValueError, OSError)


def task_frames(urdf: str, static_transforms: str):
    """The FrameTree of a task's robot (None for dm_control tasks: inputs taken as sent)."""
    from m3po_learning.frames import FrameTree

    if not urdf:
        return None
    return FrameTree.for_urdf(urdf, static_transforms)


def pose_names(ctx) -> set[str]:
    """The task inputs a pose task's PoseStamped fills (position and axis points); else none."""
    pi = ctx.pose_input
    return {pi.point, *(name for name, _ in pi.axes)} if pi is not None else set()


def set_realtime_switch_interval() -> None:
    """Let the control thread get the GIL back within 0.5 ms (default 5 ms) from loader threads."""
    sys.setswitchinterval(0.0005)


class ControllerNode(LifecycleNode):
    """Sensor topics -> observation -> budgeted act -> safety layer -> `joint_commands`.

    A lifecycle node driven from outside (`m3po_ros.autostart`, `ros2 lifecycle`): configure
    loads the checkpoint and creates the topics, activate starts the fixed-rate timer.
    """

    def __init__(self, node_name: str = "controller", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        # What destroy_node() needs exists before parameters are checked: a node refused for
        # a bad parameter is still destroyed with its context.
        self.gc = TickGC()
        self.loader = CheckpointLoader(
            self._swap_in, SWAP_ERRORS, on_swapped=self._on_swapped, on_refused=self._on_refused
        )
        self.params = declare_from_dataclass(self, ControllerParams)
        # Only the start-up `checkpoint` (launch or parameter file) is trusted as given; any
        # path that arrives later (topics, the parameter service) must lie under the roots.
        self._startup_checkpoint = self.params.checkpoint
        self.roots: tuple = ()
        self.loop: ControlLoop | None = None
        self.sensors = SensorInputs()  # frames set on configure (the task's URDF)
        self.add_post_set_parameters_callback(self._on_params_set)
        self.estop_latch = EStopLatch()
        self.tick_log = TickLog(self.get_logger())
        self._pubs, self._subs = [], []
        self._tick_timer = None
        self._diag_timer = None
        self._cmd_pub = None
        self._obs_pub = None
        # latency: joint_states arrival -> command published; overhead: tick time outside
        # act(), publishing included; compute: timer tick -> command published; act: act().
        # Recent windows, and run histograms over every tick since activation (soak runs).
        self.stats = {name: TickStats(run_bins=True) for name in RUN_STATS}
        self.tick_clock = TickClock(self.params.period_s)
        self.command_order = CommandOrder()  # set on configure from `command_joints`
        self.command_interface = "effort"  # set on configure (`command_interface`, drive)
        self.realtime = "not started"  # "" once the tick thread runs SCHED_FIFO, else why not
        self._rt_threads: set[int] = set()
        self._swaps_seen = 0
        self._diagnostics_due = False
        self._diag_pub = self.create_publisher(
            DiagnosticArray, topics.DIAGNOSTICS, DIAGNOSTICS_QOS
        )
        self.create_service(Trigger, "~/reset_estop", self._on_reset_estop)

    # -- what the core modules keep ----------------------------------------------------------
    @property
    def checkpoint_path(self) -> str:
        """Path of the running checkpoint ("" before the first configure)."""
        return self.loader.current

    @property
    def swap_errors(self) -> int:
        """Hot-swap checkpoints refused so far."""
        return self.loader.swap_errors

    @property
    def last_swap_error(self) -> str:
        """Why the last hot-swap checkpoint was refused, as "<path>: <why>"."""
        return self.loader.last_error

    @property
    def ticks(self) -> int:
        """Ticks served since activation."""
        return self.tick_clock.ticks

    @property
    def missed_ticks(self) -> int:
        """Timer periods skipped since activation."""
        return self.tick_clock.missed

    # -- parameters ------------------------------------------------------------------------
    def _read_params(self) -> ControllerParams:
        values = {
            name: self.get_parameter(name).value for name in ControllerParams.__dataclass_fields__
        }
        return ControllerParams(**values)

    def _reset_tick_clock(self) -> None:
        self.tick_clock = TickClock(self.params.period_s)
        for stats in self.stats.values():
            stats.restart()

    # -- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read parameters, load the checkpoint, build the control loop and its topics.

        Fails (the node stays unconfigured) on a bad parameter, an empty `checkpoint`, or a
        checkpoint or task the loop cannot use; the error is logged.
        """
        from m3po_learning.checkpoint import CheckpointError

        try:
            self.params = p = self._read_params()
        except ParamError as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        if not p.checkpoint:
            self.get_logger().error("parameter 'checkpoint' is empty: nothing to load")
            return TransitionCallbackReturn.FAILURE
        self.roots = checkpoint_roots(p.checkpoint_roots, self._startup_checkpoint)
        try:
            if p.checkpoint != self._startup_checkpoint:
                resolve_inside(p.checkpoint, self.roots, "checkpoint")
            loop = load_control_loop(p)
        except (CheckpointError, ControlError, ValueError, OSError) as exc:
            self.get_logger().error(f"cannot configure with checkpoint {p.checkpoint!r}: {exc}")
            return TransitionCallbackReturn.FAILURE
        try:
            order = CommandOrder(parse_joint_list(p.command_joints))
            for task, ctx in loop.contexts.items():
                order.check(ctx.joint_names, task)
            interface = resolve_interface(
                p.command_interface, loop.context.action_spec.drive, loop.task
            )
            frames = task_frames(loop.context.urdf, p.static_transforms)
        except ValueError as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.command_order = order
        self.command_interface = interface
        self.sensors.frames = frames
        loop.set_estop(self.estop_latch.engaged)  # a latched e-stop survives a reconfigure
        self.loop = loop
        self.loader.current = str(loop.agent.checkpoint_path)
        msg_type = JointTrajectory if interface == "trajectory" else Float64MultiArray
        self._cmd_pub = self.create_lifecycle_publisher(
            msg_type, topics.JOINT_COMMANDS, COMMAND_QOS
        )
        if p.publish_observation:
            self._obs_pub = self.create_lifecycle_publisher(
                Float64MultiArray, "~/observation", COMMAND_QOS
            )
        self._subs = [
            self.create_subscription(
                JointState, topics.JOINT_STATES, self._on_joint_state, SENSOR_QOS
            ),
            self.create_subscription(String, "~/task", self._on_task, 10),
            self.create_subscription(String, "~/checkpoint", self._on_checkpoint, 10),
            self.create_subscription(Bool, "~/estop", self._on_estop, 10),
        ]
        # Pose goals (PoseStamped, e.g. arm7/reach_pose) give several inputs at once; every
        # other input is a PointStamped topic of its own name.
        # A checkpoint may hold both kinds: `goal` is then a PointStamped topic for the point
        # tasks and also filled by `goal_pose` for the pose task.
        poses = {c.pose_input.topic: c.pose_input for c in loop.contexts.values() if c.pose_input}
        inputs = sorted(
            {n for c in loop.contexts.values() for n in c.obs_spec.input_names}
            - {n for c in loop.contexts.values() if c.pose_input for n in pose_names(c)}
            | {
                n
                for c in loop.contexts.values()
                if not c.pose_input
                for n in c.obs_spec.input_names
            }
        )
        for name in inputs:
            self._subs.append(
                self.create_subscription(
                    PointStamped, name, functools.partial(self._on_input, name), SENSOR_QOS
                )
            )
        for topic, pose_input in sorted(poses.items()):
            self._subs.append(
                self.create_subscription(
                    PoseStamped, topic, functools.partial(self._on_pose, pose_input), SENSOR_QOS
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
            f"(budget {loop.budget_ms():.1f} ms), gravity compensation: "
            f"{GRAVITY_SAYS[loop.context.gravity_mode]}"
        )
        # Resolved names (namespace and remaps applied): what the robot must publish/take.
        ins = ", ".join(
            s.topic_name
            for s in self._subs
            if s.msg_type in (JointState, PointStamped, PoseStamped)
        )
        joints = ",".join(self.command_order.joints or self.loop.context.joint_names)
        self.get_logger().info(
            f"topics: in {ins}; commands out {self._cmd_pub.topic_name} ({interface}, "
            f"{msg_type.__name__}; joints {joints})"
        )
        if frames is not None and inputs:
            self.get_logger().info(
                f"task inputs read in the base frame {frames.base!r}; accepted frames: "
                f"{', '.join(frames.frames)} (static_transforms adds more)"
            )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Reset the safety layer and the tick clock, then start ticking at `control_rate_hz`."""
        self.loop.context.safety.reset()
        self._reset_tick_clock()
        self._rt_threads.clear()  # the first tick (re)applies realtime_priority
        if self.params.manage_gc:
            self.gc.start()
        self._tick_timer = self.create_timer(self.params.period_s, self._on_tick)
        self.get_logger().info("active: publishing joint_commands")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop ticking and publish one stop command (zero effort or velocity, hold)."""
        self._stop_ticking()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the subscriptions, timers and publishers and drop the control loop."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop ticking (the stop command published) and tear everything down."""
        self._stop_ticking()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def safe_stop(self, ack_timeout_s: float = 0.5) -> None:
        """Stop ticking and make sure the stop command reached the subscribers.

        Called on the way out of the process (SIGINT, SIGTERM, the end of `m3po bringup`):
        a ros2_control forward command controller holds the last command it received, so
        the last one must be safe: zero effort or velocity, or (position drive) the joints'
        current position. Waits up to `ack_timeout_s` for the (reliable) command to be
        acknowledged.
        """
        if self._tick_timer is None:
            return
        self._stop_ticking()
        from rclpy.duration import Duration

        if not self._cmd_pub.wait_for_all_acked(Duration(seconds=ack_timeout_s)):
            self.get_logger().warning(
                f"stop command not acknowledged by every subscriber within {ack_timeout_s} s"
            )
        what = {"effort": "zero effort", "velocity": "zero velocity"}.get(
            self.loop.context.action_spec.drive, "hold the current position"
        )
        self.get_logger().info(f"stopped: published the stop command ({what})")

    def _stop_ticking(self) -> None:
        self.gc.stop()
        if self._tick_timer is not None:
            self.destroy_timer(self._tick_timer)
            self._tick_timer = None
            # Leave the actuators at zero effort or velocity (or holding), not at the last
            # command.
            stop = self.loop.stop_command()
            if stop is not None:
                self._cmd_pub.publish(self._command_msg(stop))

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
        """Hand the collector back, wait for a checkpoint load in progress, then destroy."""
        self.gc.stop()  # a node destroyed while active hands the collector back too
        self.loader.join()
        super().destroy_node()

    # -- inputs ----------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.sensors.on_joint_state(msg)
        except MessageError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _on_input(self, name: str, msg: PointStamped) -> None:
        try:
            self.sensors.on_point(name, msg)
        except MessageError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _on_pose(self, pose_input, msg: PoseStamped) -> None:
        try:
            self.sensors.on_pose(pose_input, msg)
        except MessageError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _on_task(self, msg: String) -> None:
        try:
            self.loop.set_task(msg.data)
            self.get_logger().info(f"task switched to {msg.data!r}")
        except ControlError as exc:
            self.get_logger().error(f"task switch refused: {exc}")

    def _on_estop(self, msg: Bool) -> None:
        change = self.estop_latch.signal(bool(msg.data), time.monotonic())
        if change == "engaged":
            self.loop.set_estop(True)
            self.get_logger().warning("e-stop ENGAGED (latched: release with ~/reset_estop)")
        elif change == "ignored":
            self.get_logger().warning(
                "e-stop stays latched: 'false' does not release it, call ~/reset_estop",
                throttle_duration_sec=5.0,
            )

    def _on_reset_estop(self, request, response):
        response.success, response.message = self.estop_latch.reset(time.monotonic())
        if response.success and self.loop is not None and self.loop.estop:
            self.loop.set_estop(False)
            self.get_logger().warning("e-stop released by ~/reset_estop")
        elif not response.success:
            self.get_logger().warning(f"e-stop reset refused: {response.message}")
        return response

    def _on_params_set(self, params) -> None:
        for p in params:  # the rest take effect on the next configure
            if p.name == "planner_budget_fraction" and self.loop is not None:
                self.loop.budget_fraction = float(p.value)

    # -- hot swap --------------------------------------------------------------------------
    def _on_checkpoint(self, msg: String) -> None:
        self.loader.request(msg.data)

    def _swap_in(self, path: str) -> str | None:
        """Load `path`, warm it up and offer it to the loop (loader thread); None: no loop."""
        from m3po_learning.checkpoint import load_agent

        loop = self.loop
        if loop is None:
            return None
        resolve_inside(path, self.roots, "checkpoint")
        agent = load_agent(
            path, device=self.params.device, overrides=self.params.planner_overrides.split()
        )
        resolve_inside(agent.checkpoint_path, self.roots, "checkpoint (as loaded)")
        loop.offer(agent, loop.prepare(agent))
        return str(agent.checkpoint_path)

    def _on_swapped(self, path: str) -> None:
        self.get_logger().info(f"hot-swapped to checkpoint {path}")

    def _on_refused(self, path: str, exc: BaseException) -> None:
        self.get_logger().error(f"checkpoint refused, keeping the running one: {exc}")

    # -- the tick --------------------------------------------------------------------------
    def _command_msg(self, command: np.ndarray):
        """The command in the published joint order (`command_joints`), labelled with it.

        A Float64MultiArray, or a one-point JointTrajectory reached in one period.
        """
        u, names = self.command_order.apply(command, self.loop.context.joint_names)
        if self.command_interface == "trajectory":
            return setpoint_to_trajectory(u, names, self.params.period_s)
        return command_to_msg(u, names)

    def _on_tick(self) -> None:
        now = time.monotonic()
        first_on_thread = threading.get_ident() not in self._rt_threads
        if first_on_thread:  # a system call now; logging waits until the command is out
            self._rt_threads.add(threading.get_ident())
            self.realtime = make_thread_realtime(self.params.realtime_priority)
        newly_missed = self.tick_clock.tick(now)
        snap = self.sensors.snapshot()
        res = self.loop.tick(snap, now)
        if res.command is not None:  # None: a position drive that never saw the joints
            self._cmd_pub.publish(self._command_msg(res.command))
        done = time.monotonic()
        if res.state == SafetyState.OK:
            compute = (done - now) * 1000.0
            stats = self.stats
            stats["latency"].add((done - snap.joint_stamp_s) * 1000.0)
            stats["overhead"].add(compute - res.act_ms)
            stats["compute"].add(compute)
            stats["act"].add(res.act_ms)
        if self._obs_pub is not None and res.obs is not None:
            self._obs_pub.publish(array_to_msg(res.obs))
        # The command is out: the rest of the period is slack for logging, diagnostics and
        # the garbage collector, which therefore never delay a command.
        if first_on_thread:
            self.tick_log.realtime(self.realtime, self.params.realtime_priority)
        if newly_missed > 0:
            late, slowest = self.tick_clock.phase_ms(now), self.loop.tick_ms.max()
            self.tick_log.missed(newly_missed, self.ticks, late, slowest, self.gc.last_ms)
        self.tick_log.tick_error(res.error)
        if self._diagnostics_due:
            self._diagnostics_due = False
            self._send_diagnostics()
        if self.loop.swaps != self._swaps_seen:
            self._swaps_seen = self.loop.swaps
            self.gc.refreeze()
        else:
            self.gc.after_tick()

    # -- diagnostics -----------------------------------------------------------------------
    def diagnostics_values(self) -> dict[str, object]:
        """The key-values of this node's /diagnostics status (`controller_status`)."""
        gc = self.gc
        info = RunInfo(
            checkpoint=self.checkpoint_path,
            active=self._tick_timer is not None,
            control_rate_hz=self.params.control_rate_hz,
            realtime=self.realtime,
            realtime_priority=self.params.realtime_priority,
            swap_errors=self.loader.swap_errors,
            last_swap_error=self.loader.last_error,
            gc_managed=gc.active,
            gc_collections=gc.collections,
            gc_ms_max=gc.max_ms,
            input_frame_errors=self.sensors.frame_errors,
        )
        return controller_values(self.loop, self.tick_clock, self.stats, info)

    def _publish_diagnostics(self) -> None:
        if self.loop is None:
            return
        if self._tick_timer is not None:
            self._diagnostics_due = True  # sent by the next tick, once its command is out
            return
        self._send_diagnostics()

    def _send_diagnostics(self) -> None:
        v = self.diagnostics_values()
        level, text = controller_level(v)
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
