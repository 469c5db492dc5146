"""Node parameters: frozen dataclasses hold the defaults, ranges and descriptions.

Fields are made with `param(default, doc, lo, hi, choices, topic)` and each dataclass calls
`validate(self)` in `__post_init__`; a field carries `metadata={"doc": ..., "range": (lo, hi)}`
(or `"choices"`, or `"topic"` for a ROS topic name). Nodes declare their ROS parameters from
these fields (`declare_from_dataclass`) and refuse out-of-range values, at start-up and at
runtime, with a message naming the parameter and the value.
"""

from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from m3po_learning.envelope import DEFAULT_ENVELOPE
from m3po_ros import topics


class ParamError(ValueError):
    """A node parameter has a value out of its range; the message names it and the value."""


# A ROS 2 topic name as rcl checks it before expansion: tokens of ASCII letters, digits, "_"
# (and {substitutions}) not starting with a digit, joined by single "/"; absolute ("/a"),
# relative ("a/b") or private ("~", "~/a").
_TOKEN = r"(?:[A-Za-z_]|\{[A-Za-z_]\w*\})(?:\w|\{[A-Za-z_]\w*\})*"
_TOPIC = re.compile(rf"~|(?:~/|/)?{_TOKEN}(?:/{_TOKEN})*", re.ASCII)


def param(
    default: Any,
    doc: str,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple = (),
    topic: str = "",
) -> Any:
    """A parameter field of a frozen params dataclass: its default, description and range.

    Args:
        default: the default value; its type (bool, int, float, str) is the parameter's.
        doc: one-line description, declared as the ROS parameter's description.
        lo: smallest allowed value (numbers), inclusive; None = unbounded.
        hi: largest allowed value (numbers), inclusive; None = unbounded.
        choices: the allowed values (strings), empty = any.
        topic: "required": the value must be a valid ROS topic name; "optional": one or
            empty (off); "" = not a topic.

    Returns:
        A `dataclasses.field` carrying the metadata that `check_value` and
        `declare_from_dataclass` read.
    """
    meta: dict[str, Any] = {"doc": doc}
    if lo is not None or hi is not None:
        meta["range"] = (-math.inf if lo is None else lo, math.inf if hi is None else hi)
    if choices:
        meta["choices"] = choices
    if topic:
        meta["topic"] = topic
    return field(default=default, metadata=meta)


def _field(cls: type, name: Any) -> Any:
    """The dataclass field `name` of `cls`; ParamError when there is none."""
    f = {x.name: x for x in fields(cls)}.get(name) if isinstance(name, str) else None
    if f is None:
        raise ParamError(f"{cls.__name__}: unknown parameter {name!r}")
    return f


def _show(value: Any, limit: int = 80) -> str:
    """`repr(value)` for an error message, shortened (a 5000-digit int has no repr at all)."""
    try:
        text = repr(value)
    except ValueError:  # int longer than sys.get_int_max_str_digits()
        return f"<{type(value).__name__} of {value.bit_length()} bits>"
    return text if len(text) <= limit else f"{text[: limit - 20]}...<{len(text)} chars>"


def _widen(name: str, value: int) -> float:
    """An int given for a float parameter as a float (ParamError when it has no float)."""
    try:
        return float(value)
    except OverflowError as exc:
        raise ParamError(f"parameter {name!r}={_show(value)} is too large for a float") from exc


def _check_topic(name: str, value: str, optional: bool) -> None:
    if optional and value == "":
        return
    if not _TOPIC.fullmatch(value):
        raise ParamError(
            f"parameter {name!r}={_show(value)} is not a valid ROS topic name (tokens of letters, "
            "digits and '_' not starting with a digit, joined by single '/'; may start with "
            "'/' or '~/')" + ("; empty = off" if optional else "")
        )


def check_value(cls: type, name: str, value: Any) -> None:
    """Raise ParamError when `value` is not valid for field `name` of dataclass `cls`."""
    f = _field(cls, name)
    expected = type(f.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = _widen(name, value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ParamError(
            f"parameter {name!r}={_show(value)} has type {type(value).__name__}, "
            f"expected {expected.__name__}"
        )
    if expected is float and not math.isfinite(value):
        raise ParamError(f"parameter {name!r}={_show(value)} must be finite")
    lo_hi = f.metadata.get("range")
    if lo_hi is not None and not (lo_hi[0] <= value <= lo_hi[1]):
        raise ParamError(
            f"parameter {name!r}={_show(value)} is out of range [{lo_hi[0]}, {lo_hi[1]}]"
        )
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ParamError(f"parameter {name!r}={_show(value)} is not one of {list(choices)}")
    topic = f.metadata.get("topic")
    if topic:
        _check_topic(name, value, optional=topic == "optional")


def validate(obj: Any) -> None:
    """Check every field of a params dataclass instance; call it from `__post_init__`.

    Raises:
        ParamError: naming the first field whose value is out of its range, type or choices.
    """
    for f in fields(obj):
        check_value(type(obj), f.name, getattr(obj, f.name))


def param_type(cls: type, name: str) -> type:
    """Python type (bool, int, float, str) of parameter `name` of `cls` (ParamError: none)."""
    return type(_field(cls, name).default)


def convert_value(cls: type, name: str, text: str | Any) -> Any:
    """Parse a launch-argument string into parameter `name`'s type (bools: true/false).

    A value that is not a string (from YAML) is returned as it is, ints widened for float
    parameters; `check_value` decides whether it fits. Raises ParamError for an unknown
    parameter or a string that does not parse.
    """
    kind = param_type(cls, name)
    if not isinstance(text, str) or kind is str:
        if kind is float and isinstance(text, int) and not isinstance(text, bool):
            return _widen(name, text)
        return text
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ParamError(f"parameter {name!r}={_show(text)} is not true/false")
        return text.lower() == "true"
    try:
        return kind(text)
    except ValueError as exc:
        raise ParamError(f"parameter {name!r}={_show(text)} is not a {kind.__name__}") from exc


@dataclass(frozen=True)
class ControllerParams:
    """Runtime settings of `controller_node` (model settings come from the checkpoint)."""

    checkpoint: str = param("", "checkpoint dir or run dir loaded on configure")
    task: str = param("", "task to control; empty = the checkpoint's first task")
    control_rate_hz: float = param(50.0, "fixed control rate of the timer, Hz", 1.0, 1000.0)
    use_planner: bool = param(True, "plan with the world model; false = policy only")
    planner_budget_fraction: float = param(
        0.6,
        "share of the control period the act() call may use (planner stops before); "
        "takes effect at once when set at runtime",
        0.05,
        0.95,
    )
    planner_overrides: str = param("", "space-separated planner overrides, e.g. planner.horizon=3")
    static_transforms: str = param(
        "world: 0 0 0 0 0 0",
        "poses of extra frames in the task's base frame (its URDF root link), 'frame: x y z "
        "roll pitch yaw' or 'frame: x y z qw qx qy qz', ';'-separated; task inputs (goals) "
        "in these frames, the base frame or the URDF's fixed links are transformed into the "
        "base frame, any other frame is refused",
    )
    sensor_timeout_s: float = param(
        0.1, "joint_states older than this trips the watchdog", 0.001, 10.0
    )
    # Defaults: the envelope training acts within (m3po_learning.envelope), so the policy
    # meets on the robot the limits it learned under.
    max_effort_fraction: float = param(
        DEFAULT_ENVELOPE.max_effort_fraction,
        "command limit as a fraction of the URDF effort (position drive: of one step from "
        "the measured position; velocity drive: of the velocity limit)",
        0.0,
        1.0,
    )
    max_effort_rate: float = param(
        DEFAULT_ENVELOPE.max_effort_rate,
        "largest command change per second, in URDF effort limits",
        0.1,
        1e6,
    )
    position_margin: float = param(
        DEFAULT_ENVELOPE.position_margin,
        "within this distance of a position limit, effort pushing outward is cut (rad|m)",
        0.0,
        1.0,
    )
    follow_learner: bool = param(False, "hot-swap every checkpoint announced on learner_topic")
    checkpoint_roots: str = param(
        "",
        "':'-separated directories that checkpoints arriving over topics (~/checkpoint, "
        "learner_topic) must resolve into; the start-up checkpoint's directory is always one",
    )
    learner_topic: str = param(
        topics.CHECKPOINTS, "topic where the learner announces checkpoints", topic="required"
    )
    device: str = param("cpu", "torch device", choices=("cpu", "cuda", "auto"))
    num_threads: int = param(1, "torch intra-op threads", 1, 64)
    publish_observation: bool = param(False, "publish the built observation on ~/observation")
    command_joints: str = param(
        "",
        "joint order of joint_commands, comma-separated (a ros2_control forward controller's "
        "`joints`); commands are mapped by name; empty = the task's (URDF) order",
    )
    command_interface: str = param(
        "auto",
        "what joint_commands carries: auto (the checkpoint's drive), effort, position, "
        "velocity (Float64MultiArray) or trajectory (trajectory_msgs/JointTrajectory, for a "
        "JointTrajectoryController; position-drive checkpoints)",
        choices=("auto", "effort", "position", "velocity", "trajectory"),
    )
    gravity_compensation: str = param(
        "auto",
        "who cancels gravity on the robot: auto (as in training: controller when the policy "
        "was trained compensated, else off), controller (this node adds the URDF's gravity "
        "torques), driver (the robot's driver does), off; a mismatch with the training is "
        "refused at configure",
        choices=("auto", "controller", "driver", "off"),
    )
    diagnostics_period_s: float = param(1.0, "seconds between /diagnostics messages", 0.05, 60.0)
    autostart: bool = param(
        False, "m3po bringup / the launch files configure and activate the node on start-up"
    )
    realtime_priority: int = param(
        0,
        "SCHED_FIFO priority of the thread running the ticks (1-99; 0 = normal scheduling)",
        0,
        99,
    )
    manage_gc: bool = param(
        True, "freeze start-up objects and run Python's garbage collector between ticks"
    )

    def __post_init__(self) -> None:
        validate(self)
        if self.follow_learner and not self.checkpoint and not self.checkpoint_roots:
            raise ParamError(
                "parameter 'follow_learner'=True without a 'checkpoint' needs "
                "'checkpoint_roots' (the learner's out_dir): announced paths load only from there"
            )

    @property
    def period_s(self) -> float:
        """Control period, s (1 / control_rate_hz)."""
        return 1.0 / self.control_rate_hz


@dataclass(frozen=True)
class SimParams:
    """Runtime settings of `sim_node`."""

    task: str = param("arm2/reach", "task (robot/task) to simulate")
    checkpoint: str = param(
        "",
        "a checkpoint or run directory whose own robots (`m3po train --robot`, from the URDF "
        "copies inside it) the sim registers first, so `task` may be one of them",
    )
    seed: int = param(0, "episode seeds are seed, seed+1, ...; setting it resets", 0, 2**31 - 1)
    randomize: bool = param(False, "domain randomisation (config/randomization/default.yaml)")
    driver_gravity_compensation: bool = param(
        False,
        "the simulated robot's driver cancels gravity (as a torque-mode arm's does); off, "
        "gravity acts and a controller of a policy trained compensated adds the torques "
        "(its gravity_compensation:=auto); on, that controller needs gravity_compensation:=driver",
    )
    real_time_factor: float = param(
        1.0, "simulated seconds per wall second; 0 = lockstep (one step per command)", 0.0, 100.0
    )
    command_timeout_s: float = param(
        0.2,
        "commands older than this are replaced by the drive's safe command (zero effort or "
        "velocity, hold position)",
        0.001,
        10.0,
    )
    command_interface: str = param(
        "auto",
        "what joint_commands carries: auto (the task's drive, Float64MultiArray) or "
        "trajectory (trajectory_msgs/JointTrajectory, position-drive tasks)",
        choices=("auto", "trajectory"),
    )
    auto_reset: bool = param(True, "start a new episode when one ends")
    publish_clock: bool = param(True, "publish /clock (sim time) for use_sim_time nodes")
    publish_observation: bool = param(False, "publish the env's observation on ~/observation")
    publish_transitions: bool = param(
        False, "publish each finished episode on transitions_topic (m3po_ros/transitions.py)"
    )
    transitions_topic: str = param(
        topics.TRANSITIONS, "topic of the episodes sent with publish_transitions", topic="required"
    )
    frame_id: str = param(
        "", "frame of the published goal point; empty = the robot's base frame (URDF root link)"
    )
    publish_tf: bool = param(
        True, "publish the links' poses on /tf (needs tf2_msgs, which has no PyPI wheel)"
    )
    diagnostics_period_s: float = param(1.0, "seconds between /diagnostics messages", 0.05, 60.0)

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class LearnerParams:
    """Runtime settings of `learner_node`."""

    config: str = param("", "training config YAML (config/train/*.yaml); empty = defaults")
    overrides: str = param("", "space-separated dotted overrides, e.g. train.steps=5000")
    out_dir: str = param("runs/learner", "run directory for checkpoints and metrics")
    resume: bool = param(True, "resume from out_dir/checkpoints/latest when present")
    announce_topic: str = param(
        topics.CHECKPOINTS, "topic where each new checkpoint path is sent", topic="required"
    )
    mode: str = param(
        "train",
        "train: train in-process (+ received transitions), then watch bag_dir; "
        "finetune: no training, watch bag_dir from the start",
        choices=("train", "finetune"),
    )
    checkpoint: str = param(
        "", "mode=finetune: checkpoint to start from when out_dir has none (resume)"
    )
    transitions_topic: str = param(
        topics.TRANSITIONS,
        "episodes from sim nodes/robots joining replay; empty = off",
        topic="optional",
    )
    bag_dir: str = param(
        "", "directory watched for new complete rosbags to fine-tune on; empty = off"
    )
    bag_task: str = param("", "task of the watched bags; empty = the agent's first task")
    bag_finetune_steps: int = param(200, "fine-tuning gradient steps per new bag", 1, 10_000_000)
    bag_poll_s: float = param(2.0, "seconds between scans of bag_dir", 0.05, 3600.0)
    bag_settle_s: float = param(
        2.0, "a bag counts as complete once its files stopped changing this long", 0.0, 3600.0
    )
    device: str = param("auto", "torch device of bag fine-tuning", choices=("cpu", "cuda", "auto"))
    diagnostics_period_s: float = param(1.0, "seconds between /diagnostics messages", 0.05, 60.0)

    def __post_init__(self) -> None:
        validate(self)
        if self.mode == "finetune" and not self.bag_dir:
            raise ParamError("parameter 'mode'='finetune' needs a bag_dir to watch")


def defaults(cls: type) -> dict[str, Any]:
    """Field name -> default value of a params dataclass."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def declare_from_dataclass(node: Any, cls: type) -> Any:
    """Declare every field of `cls` on `node` with its descriptor; return the validated values.

    Out-of-range values (from a parameter file or overrides) raise ParamError naming them; a
    set-parameters callback refuses out-of-range changes at runtime with the same message.
    """
    from rcl_interfaces.msg import (
        FloatingPointRange,
        ParameterDescriptor,
        SetParametersResult,
    )

    values = {}
    for f in fields(cls):
        desc = ParameterDescriptor(name=f.name, description=f.metadata.get("doc", ""))
        lo_hi = f.metadata.get("range")
        if lo_hi is not None and isinstance(f.default, float):
            desc.additional_constraints = f"range [{lo_hi[0]}, {lo_hi[1]}]"
            if math.isfinite(lo_hi[0]) and math.isfinite(lo_hi[1]):
                desc.floating_point_range = [
                    FloatingPointRange(
                        from_value=float(lo_hi[0]), to_value=float(lo_hi[1]), step=0.0
                    )
                ]
        elif lo_hi is not None and isinstance(f.default, int) and not isinstance(f.default, bool):
            desc.additional_constraints = f"range [{lo_hi[0]}, {lo_hi[1]}]"
        if f.metadata.get("choices"):
            desc.additional_constraints = f"one of {list(f.metadata['choices'])}"
        if f.metadata.get("topic"):
            desc.additional_constraints = "a ROS topic name" + (
                " or empty (off)" if f.metadata["topic"] == "optional" else ""
            )
        # Check overrides (parameter files, -p, launch) before rclpy sees them, so the error
        # names the parameter and its value; ints given for float parameters are widened.
        overrides = node._parameter_overrides  # noqa: SLF001 - must be read before declaring
        if f.name in overrides:
            value = overrides[f.name].value
            check_value(cls, f.name, value)
            if isinstance(f.default, float) and isinstance(value, int):
                from rclpy.parameter import Parameter

                overrides[f.name] = Parameter(f.name, value=float(value))
        param = node.declare_parameter(f.name, f.default, desc)
        values[f.name] = param.value

    def on_set(params):
        for p in params:
            if p.name in values:
                try:
                    check_value(cls, p.name, p.value)
                except ParamError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return cls(**values)
