"""`sim_node`: one MuJoCo robot and task, with the topics a real robot driver would have."""

from __future__ import annotations

import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, PoseStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from m3po_learning.envs.drive import describe as describe_drive
from m3po_ros.conversions import (
    MessageError,
    array_to_msg,
    make_joint_state,
    make_point,
    make_pose,
    make_transform,
    msg_to_command,
    trajectory_to_setpoint,
)
from m3po_ros.diagnostics import OK, WARN, make_array, make_status
from m3po_ros.node_main import spin_node
from m3po_ros.params import ParamError, SimParams, declare_from_dataclass
from m3po_ros.qos import COMMAND_QOS, ROBOT_DESCRIPTION_QOS, SENSOR_QOS, TRANSITIONS_QOS
from m3po_ros.transitions import Episode, episode_to_msg


def base_frame(env) -> str:
    """The URDF root link of `env`'s robot ("" for dm_control tasks)."""
    robot = getattr(getattr(env, "task", None), "robot", None)
    if robot is None:
        return ""
    from m3po_learning.frames import urdf_static_frames

    return urdf_static_frames(robot.urdf_file())[0]


def sim_time_msg(seconds: float):
    """builtin_interfaces/Time for `seconds` of sim time."""
    from builtin_interfaces.msg import Time

    sec = int(seconds)
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


class SimNode(Node):
    """Steps `make_env(task)` at the task's control_dt (scaled by real_time_factor).

    Publishes `joint_states` (every robot joint, sensor-data QoS), each task input as a
    PointStamped (e.g. `goal`), `/clock`, `~/reward` and `~/episode_return`; applies
    `joint_commands` (in actuated-joint order, what the task's drive takes: efforts, position
    or velocity setpoints; or, with `command_interface=trajectory`, a JointTrajectory whose
    last point is the position setpoint, joints by name), converted back to the env's
    normalised actions; the simulated drive (a MuJoCo servo for position and velocity,
    `m3po_learning.envs.drive`) then acts on them. `~/reset` (std_srvs/Trigger) starts the
    next episode, `~/task` switches to another task of the same robot; setting the `seed`
    parameter restarts the episode sequence from that seed.

    With `publish_transitions`, every episode (the env's own observations and the normalised
    actions actually applied) is sent on `transitions_topic` when it ends, and an unfinished
    one when a reset or task switch cuts it short (see `m3po_ros.transitions`).
    """

    def __init__(self, node_name: str = "sim", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.params = declare_from_dataclass(self, SimParams)
        self.env = None
        self.episode = 0
        self.steps = 0
        self.episodes_done = 0
        self.episode_return = 0.0
        self.last_return = float("nan")
        self.returns: list[float] = []  # returns of finished episodes, in order
        self.bad_commands = 0
        self.transitions_sent = 0  # episodes published on transitions_topic
        self._ep: dict[str, list] = {"obs": [], "action": [], "reward": [], "terminated": []}
        self._command = None
        self._command_time = -1e9
        self._sim_time = 0.0
        self._wall_start = time.monotonic()
        self._register_robots(self.params.checkpoint)
        self._build_env(self.params.task)
        self._js_pub = self.create_publisher(JointState, "joint_states", SENSOR_QOS)
        self._input_pubs: dict = {}
        self._pose_pubs: dict = {}
        self._ensure_input_publishers()
        self._reward_pub = self.create_publisher(Float64, "~/reward", 10)
        self._return_pub = self.create_publisher(Float64, "~/episode_return", 10)
        self._obs_pub = self.create_publisher(Float64MultiArray, "~/observation", 10)
        self._clock_pub = (
            self.create_publisher(Clock, "/clock", 10) if (self.params.publish_clock) else None
        )
        self._transitions_pub = (
            self.create_publisher(
                Float64MultiArray, self.params.transitions_topic, TRANSITIONS_QOS
            )
            if self.params.publish_transitions
            else None
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_robot_description()
        self._tf_pub, self.tf_status = self._make_tf_publisher()
        drive = self.action_spec.drive
        if self.params.command_interface == "trajectory" and drive != "position":
            raise ParamError(
                f"parameter 'command_interface'='trajectory' needs a position-drive task "
                f"(e.g. {self.task.partition('@')[0]}@position); {self.task!r} is {drive}-driven"
            )
        self._trajectory = self.params.command_interface == "trajectory"
        self.create_subscription(
            JointTrajectory if self._trajectory else Float64MultiArray,
            "joint_commands",
            self._on_command,
            COMMAND_QOS,
        )
        self.create_subscription(String, "~/task", self._on_task, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.add_post_set_parameters_callback(self._on_params_set)
        self._reset(self.params.seed)
        if self.params.real_time_factor > 0:
            dt = self.env.spec.control_dt / self.params.real_time_factor
            self._timer = self.create_timer(dt, self._step)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)

    def _publish_robot_description(self) -> None:
        """The simulated robot's URDF on `robot_description`, latched (RViz shows the model).

        Task switches stay on one robot (see `_on_task`), so once is enough. DMControl
        tasks have no URDF and publish nothing there.
        """
        task = getattr(self.env, "task", None)
        robot = getattr(task, "robot", None)
        self.robot_description = ""
        if robot is None:
            return
        self.robot_description = robot.urdf_file().read_text()
        self._description_pub = self.create_publisher(
            String, "robot_description", ROBOT_DESCRIPTION_QOS
        )
        self._description_pub.publish(String(data=self.robot_description))

    def _make_tf_publisher(self):
        """A /tf publisher (tf2_msgs/TFMessage) where tf2_msgs is installed; why not, else."""
        if not self.params.publish_tf or not self.robot_description:
            return None, "off"
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            status = (
                "/tf not published: tf2_msgs is not installed (it has no PyPI wheel; a native "
                "ROS 2 install has it). robot_description and joint_states are published, so "
                "robot_state_publisher can make /tf"
            )
            self.get_logger().info(status)
            return None, status
        from m3po_ros.qos import TF_QOS

        self._tf_type = TFMessage
        return self.create_publisher(TFMessage, "/tf", TF_QOS), "publishing"

    def link_transforms(self, stamp=None) -> list:
        """TransformStamped root link -> every other link, as /tf carries them."""
        base = base_frame(self.env)
        return [
            make_transform(base, link, xyz, quat, stamp)
            for link, (xyz, quat) in self.env.link_poses().items()
        ]

    # -- episodes --------------------------------------------------------------------------
    def _register_robots(self, checkpoint: str) -> None:
        """Register the user robots a checkpoint was trained on (its URDF copies)."""
        if not checkpoint:
            return
        from m3po_learning.checkpoint import (
            CheckpointError,
            read_checkpoint,
            register_checkpoint_robots,
        )

        try:
            names = register_checkpoint_robots(read_checkpoint(checkpoint))
        except CheckpointError as exc:
            raise ParamError(f"parameter 'checkpoint'={checkpoint!r}: {exc}") from exc
        if names:
            self.get_logger().info(f"robots of {checkpoint}: {', '.join(names)}")

    def _build_env(self, task: str) -> None:
        from m3po_learning.envelope import Envelope
        from m3po_learning.envs import make_env

        # The simulated robot has its drives' velocity limits; the effort, position and rate
        # limits are the controller's safety layer's to apply, as on a real robot.
        self.env = make_env(
            task,
            seed=self.params.seed,
            randomize=self.params.randomize,
            envelope=Envelope.drive_only(),
        )
        self.env.set_gravity_compensation(self.params.driver_gravity_compensation)
        self.task = task
        self.action_spec = self.env.action_spec
        # Goals are the env's world coordinates, where the URDF root sits at the origin: the
        # robot's base frame, named after that link.
        self.goal_frame = self.params.frame_id or base_frame(self.env)
        self.get_logger().info(
            f"simulating {task}: joints {list(self.env.spec.joint_names)}, "
            f"dt {self.env.spec.control_dt} s, randomize={self.params.randomize}, "
            f"commands: {describe_drive(self.action_spec.drive)}"
        )

    def _reset(self, seed: int) -> None:
        self._flush_episode()
        self.obs, _ = self.env.reset(seed)
        self._ep["obs"] = [np.array(self.obs, np.float64)]
        self.episode_return = 0.0
        self.episode_steps = 0
        self._command = None
        self._publish_state()

    def _next_episode(self) -> None:
        self.episode += 1
        self._reset(self.params.seed + self.episode)

    def _on_reset(self, request, response):
        self._next_episode()
        response.success = True
        response.message = f"episode {self.episode} (seed {self.params.seed + self.episode})"
        return response

    def _on_task(self, msg: String) -> None:
        from m3po_learning.envs import TaskSetError, make_env

        try:
            env = make_env(msg.data)
        except TaskSetError as exc:
            self.get_logger().error(f"task switch refused: {exc}")
            return
        if (
            tuple(env.spec.joint_names) != tuple(self.env.spec.joint_names)
            or env.action_spec.drive != self.action_spec.drive
        ):
            self.get_logger().error(
                f"task switch refused: {msg.data!r} is not a task of this robot "
                f"(joints {list(self.env.spec.joint_names)}, {self.action_spec.drive} drive)"
            )
            return
        self._flush_episode()  # the cut-short episode belongs to the old task
        self._build_env(msg.data)
        self._ensure_input_publishers()
        self._next_episode()

    def _ensure_input_publishers(self) -> None:
        """Publishers for the current task's inputs, made once per topic.

        A PointStamped topic per point input, and one PoseStamped for a pose goal
        (arm7/reach_pose), whose points are derived from it.
        """
        pose_input = getattr(getattr(self.env, "task", None), "pose_input", None)
        self._pose_input = pose_input
        self._derived_inputs = set()
        if pose_input is not None:
            self._derived_inputs = {pose_input.point, *(n for n, _ in pose_input.axes)}
            if pose_input.topic not in self._pose_pubs:
                self._pose_pubs[pose_input.topic] = self.create_publisher(
                    PoseStamped, pose_input.topic, SENSOR_QOS
                )
        for name in self.env.observation_spec.input_names:
            if name not in self._derived_inputs and name not in self._input_pubs:
                self._input_pubs[name] = self.create_publisher(PointStamped, name, SENSOR_QOS)

    def _on_params_set(self, params) -> None:
        for p in params:
            if p.name == "seed":
                self.params = SimParams(**{**self.params.__dict__, "seed": p.value})
                self.episode = 0
                self._reset(p.value)

    # -- stepping --------------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray | JointTrajectory) -> None:
        try:
            if self._trajectory:
                effort = trajectory_to_setpoint(msg, self.action_spec.names)
            else:
                effort = msg_to_command(msg, self.action_spec.dim)
        except MessageError as exc:
            self.bad_commands += 1
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)
            return
        if not np.all(np.isfinite(effort)):
            self.bad_commands += 1
            self.get_logger().error("joint_commands with NaN/Inf ignored")
            return
        self._command = effort
        self._command_time = time.monotonic()
        if self.params.real_time_factor == 0:
            self._step()

    def _step(self) -> None:
        fresh = time.monotonic() - self._command_time <= self.params.command_timeout_s
        action = np.zeros(self.action_spec.dim)
        if self._command is not None and (fresh or self.params.real_time_factor == 0):
            action = self.action_spec.command_to_action(self._command, self._positions())
        self.obs, reward, terminated, truncated, _ = self.env.step(action)
        if self._transitions_pub is not None:
            self._ep["action"].append(action)
            self._ep["reward"].append(float(reward))
            self._ep["terminated"].append(1.0 if terminated else 0.0)
            self._ep["obs"].append(np.array(self.obs, np.float64))
        self.steps += 1
        self.episode_steps += 1
        self._sim_time += self.env.spec.control_dt
        self.episode_return += reward
        self._reward_pub.publish(Float64(data=float(reward)))
        if terminated or truncated:
            self.last_return = self.episode_return
            self.returns.append(self.episode_return)
            self.episodes_done += 1
            self._return_pub.publish(Float64(data=float(self.episode_return)))
            self._flush_episode()
            if self.params.auto_reset:
                self._next_episode()
                return
        self._publish_state()

    def _positions(self) -> np.ndarray | None:
        """True positions of the actuated joints (what a position servo measures itself)."""
        robot = getattr(self.env, "robot", None)
        if robot is None:  # dm_control: effort only
            return None
        return self.env.data.qpos[robot.act_qpos_idx]

    def _flush_episode(self) -> None:
        """Publish the steps recorded since the last flush (if any) as one episode."""
        ep = self._ep
        if self._transitions_pub is not None and ep["action"]:
            msg = episode_to_msg(
                Episode(
                    self.task,
                    np.stack(ep["obs"]),
                    np.stack(ep["action"]),
                    np.asarray(ep["reward"]),
                    np.asarray(ep["terminated"]),
                )
            )
            self._transitions_pub.publish(msg)
            self.transitions_sent += 1
        # the next episode starts from the current observation (a reset replaces it)
        obs = getattr(self, "obs", None)
        self._ep = {
            "obs": [] if obs is None else [np.array(obs, np.float64)],
            "action": [],
            "reward": [],
            "terminated": [],
        }

    def _publish_state(self) -> None:
        stamp = (
            sim_time_msg(self._sim_time)
            if self.params.publish_clock
            else (self.get_clock().now().to_msg())
        )
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=stamp))
        # Task inputs before the joint state of the same instant: a controller reading goals
        # as of the joint state's stamp (StampedInputs) then never pairs states across steps.
        for name, value in self.env.task_inputs().items():
            if name not in self._derived_inputs:
                self._input_pubs[name].publish(make_point(value, self.goal_frame, stamp))
        if self._pose_input is not None:
            xyz, quat = self.env.task.goal_pose()
            msg = make_pose(xyz, quat, self.goal_frame, stamp)
            self._pose_pubs[self._pose_input.topic].publish(msg)
        names, pos, vel, eff = self.env.joint_state()
        self._js_pub.publish(make_joint_state(names, pos, vel, eff, stamp))
        if self._tf_pub is not None:
            self._tf_pub.publish(self._tf_type(transforms=self.link_transforms(stamp)))
        if self.params.publish_observation:
            self._obs_pub.publish(array_to_msg(self.obs))

    def _publish_diagnostics(self) -> None:
        wall = time.monotonic() - self._wall_start
        rtf = self._sim_time / wall if wall > 0 else 0.0
        values = {
            "task": self.task,
            "steps": self.steps,
            "episodes": self.episodes_done,
            "last_return": self.last_return,
            "real_time_factor": rtf,
            "bad_commands": self.bad_commands,
            "transitions_sent": self.transitions_sent,
        }
        level = WARN if self.bad_commands else OK
        status = make_status(
            f"{self.get_fully_qualified_name()}: sim",
            "mujoco",
            level,
            f"{self.task} episode {self.episode}",
            values,
        )
        self._diag_pub.publish(make_array(self.get_clock().now().to_msg(), status))


def main(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run m3po_ros sim_node`."""
    return spin_node(SimNode, "sim_node", args)


if __name__ == "__main__":
    sys.exit(main())
