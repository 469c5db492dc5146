"""Fuzzing the ROS-side parsers of outside input: transitions, joint states, goals, parameters.

What arrives over ROS comes from other processes and machines (sim nodes, robots, a
`ros2 param set` typed by hand), so each parser must turn any message into either a valid
result or its documented error with a message:

  * `m3po/transitions` (std_msgs/Float64MultiArray) -> `Episode` or `TransitionError`, with
    no allocation sized by a header field;
  * sensor_msgs/JointState and geometry_msgs/PointStamped -> the controller's sensor inputs
    or `MessageError`; whatever arrives, `ControlLoop.tick` returns a finite command within
    the effort limits (an error string and a safe command when the readings are unusable);
  * node parameters -> valid params or `ParamError`; through a live node's parameter
    service, a refused value leaves the node's parameters as they were.

Real message classes, a real checkpoint (the shipped arm2/reach fixture) and a real rclpy
node; no mocks. Settings and verdicts: test/fuzzlib.py.
"""

from __future__ import annotations

import json
import math
import time
import tracemalloc
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from fuzzlib import edits_strategy, fuzz_settings, mutate, verdict
from geometry_msgs.msg import PointStamped
from hypothesis import given
from hypothesis import strategies as st
from rclpy.exceptions import InvalidTopicNameException
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.validate_topic_name import validate_topic_name
from ros_harness import Ros, get_state, set_param
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, MultiArrayLayout

from m3po_learning.frames import FrameTree
from m3po_ros.control_loop import SensorSnapshot, load_control_loop
from m3po_ros.controller_node import ControllerNode
from m3po_ros.conversions import MessageError, joint_state_to_dicts
from m3po_ros.params import (
    ControllerParams,
    LearnerParams,
    ParamError,
    SimParams,
    check_value,
    convert_value,
    validate,
)
from m3po_ros.safety import SafetyState
from m3po_ros.stamped_inputs import SensorInputs, stamp_ns
from m3po_ros.transitions import (
    BLOCKS,
    FORMAT,
    Episode,
    TransitionError,
    check_episode,
    episode_to_msg,
    msg_to_episode,
    unpack,
)

TASKS = ("arm2/reach", "arm2/track", "cheetah/run")  # what the receiver knows
SHIPPED_REACH = Path(__file__).resolve().parent / "fixtures" / "arm2_reach_tiny"
PLANNER = "planner.num_samples=64 planner.iterations=3 planner.num_elites=8 planner.num_pi_trajs=8"
_META = json.loads((SHIPPED_REACH / "metadata.json").read_text())
JOINTS = tuple(_META["specs"][0]["joint_names"])  # arm2: the joints the controller drives
UINT32 = 2**32 - 1

# -- shared strategies ----------------------------------------------------------------------
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 1.0 + 1e-6, math.nan, math.inf, -math.inf, 1e308, 5e-324]
any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(SPECIAL_FLOATS)
)
small_float = st.floats(-3.0, 3.0)
uint32 = st.one_of(st.integers(0, 12), st.integers(0, UINT32), st.sampled_from([UINT32, 2**31]))
# No NUL or surrogates: a ROS string cannot carry them (the message class refuses them).
ros_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24
)
stamps = st.builds(
    Time,
    sec=st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1, -1])),
    nanosec=st.one_of(st.integers(0, UINT32), st.just(0)),
)


# -- 1. m3po/transitions --------------------------------------------------------------------
def good_episode(T: int, O: int, A: int, task: str = "arm2/reach", seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed)
    term = np.zeros(T)
    term[-1] = 1.0
    return Episode(
        task, rng.normal(size=(T + 1, O)), rng.uniform(-1, 1, (T, A)), rng.normal(size=T), term
    )


def make_msg(dims: list[tuple[str, int, int]], data, offset: int = 0) -> Float64MultiArray:
    layout = MultiArrayLayout(
        dim=[MultiArrayDimension(label=lb, size=s, stride=st_) for lb, s, st_ in dims],
        data_offset=offset,
    )
    return Float64MultiArray(layout=layout, data=[float(x) for x in data])


def assert_valid_episode(ep: Episode, tasks=TASKS) -> None:
    """What every decoded episode must be: the shapes and values `check_episode` promises."""
    T = ep.steps
    assert T >= 1 and ep.task in tasks
    assert ep.obs.shape[0] == T + 1 and ep.obs.shape[1] >= 1 and ep.action.shape[1] >= 1
    assert ep.reward.shape == (T,) and ep.terminated.shape == (T,)
    for x in (ep.obs, ep.action, ep.reward):
        assert x.dtype == np.float64 and np.isfinite(x).all()
    assert np.isin(ep.terminated, (0.0, 1.0)).all()
    assert np.abs(ep.action).max() <= 1.0 + 1e-9


labels = st.one_of(
    st.sampled_from(
        [*BLOCKS, f"{FORMAT} task=arm2/reach", f"{FORMAT} task=", "m3po_transitions/2"]
    ),
    st.builds(lambda t: f"{FORMAT} task={t}", ros_text),
    ros_text,
)


@fuzz_settings(80)
@given(
    dims=st.lists(st.tuples(labels, uint32, uint32), max_size=7),
    data=st.lists(any_float, max_size=64),
    offset=uint32,
)
def test_transitions_any_layout(dims, data, offset):
    """A Float64MultiArray of any layout: an episode or TransitionError."""
    msg = make_msg(dims, data, offset)
    ep = verdict("ros/transitions", lambda: msg_to_episode(msg, TASKS), (TransitionError,))
    if ep is not None:
        assert_valid_episode(ep)


# One edit of a valid message: (field, index, value)
field_edit = st.one_of(
    st.tuples(st.just("size"), st.integers(0, 4), uint32),
    st.tuples(st.just("stride"), st.integers(0, 4), uint32),
    st.tuples(st.just("label"), st.integers(0, 4), labels),
    st.tuples(st.just("offset"), st.just(0), uint32),
    st.tuples(st.just("value"), st.integers(0, 10**6), any_float),
    st.tuples(st.just("drop_value"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("add_value"), st.integers(0, 10**6), any_float),
    st.tuples(st.just("drop_dim"), st.integers(0, 4), st.just(0)),
    st.tuples(st.just("add_dim"), st.integers(0, 5), st.tuples(labels, uint32, uint32)),
    st.tuples(st.just("task"), st.just(0), ros_text),
)


@fuzz_settings(80)
@given(
    T=st.integers(1, 6),
    O=st.integers(1, 5),
    A=st.integers(1, 3),
    edits=st.lists(field_edit, min_size=1, max_size=4),
)
def test_transitions_edited_valid_message(T, O, A, edits):
    """A valid message with a few fields changed (sizes, strides, labels, values, task)."""
    msg = episode_to_msg(good_episode(T, O, A))
    dims = [(d.label, d.size, d.stride) for d in msg.layout.dim]
    data, offset = list(msg.data), 0
    for kind, i, value in edits:
        if kind in ("size", "stride", "label") and dims:
            j = i % len(dims)
            lb, s, st_ = dims[j]
            dims[j] = {
                "size": (lb, value, st_),
                "stride": (lb, s, value),
                "label": (value, s, st_),
            }[kind]
        elif kind == "offset":
            offset = value
        elif kind == "value" and data:
            data[i % len(data)] = value
        elif kind == "drop_value" and data:
            del data[i % len(data)]
        elif kind == "add_value":
            data.insert(i % (len(data) + 1), value)
        elif kind == "drop_dim" and dims:
            del dims[i % len(dims)]
        elif kind == "add_dim":
            dims.insert(i % (len(dims) + 1), value)
        elif kind == "task" and dims:
            dims[0] = (f"{FORMAT} task={value}", *dims[0][1:])
    msg = make_msg(dims, data, offset)
    ep = verdict("ros/transitions", lambda: msg_to_episode(msg, TASKS), (TransitionError,))
    if ep is not None:
        assert_valid_episode(ep)


@fuzz_settings(60)
@given(T=st.integers(1, 4), O=st.integers(1, 4), A=st.integers(1, 2), edits=edits_strategy(6))
def test_transitions_mutated_wire_bytes(T, O, A, edits):
    """The serialized (CDR) bytes of a valid message, mutated, as a subscriber receives them."""
    wire = serialize_message(episode_to_msg(good_episode(T, O, A)))
    bad = mutate(wire, edits)
    try:
        msg = deserialize_message(bad, Float64MultiArray)
    except Exception:  # noqa: BLE001 - the middleware drops what it cannot deserialize
        return
    ep = verdict("ros/transitions", lambda: msg_to_episode(msg, TASKS), (TransitionError,))
    if ep is not None:
        assert_valid_episode(ep)


huge = st.one_of(
    st.sampled_from([10**12, 10**18, 2**63, -(10**12), -1, 0, 2**32]), st.integers(-(2**70), 2**70)
)


@fuzz_settings(40)
@given(
    sizes=st.lists(st.one_of(huge, st.integers(0, 6)), min_size=10, max_size=10),
    n=st.integers(0, 40),
    offset=st.one_of(st.just(0), huge),
)
def test_transitions_header_sizes_never_allocate(sizes, n, offset):
    """Headers claiming 10^12 elements (or negative ones) are refused before any allocation."""
    head = [(f"{FORMAT} task=arm2/reach", sizes[0], sizes[1])]
    dims = head + [(name, sizes[2 + 2 * k], sizes[3 + 2 * k]) for k, name in enumerate(BLOCKS)]
    data = np.zeros(n)
    tracemalloc.start()
    try:
        ep = verdict(
            "ros/transitions", lambda: unpack(dims, data, offset, TASKS), (TransitionError,)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"decoding a {n}-value message allocated {peak} bytes"
    if ep is not None:
        assert_valid_episode(ep)


array_like = st.one_of(
    st.none(),
    any_float,
    st.integers(-(2**70), 2**70),
    ros_text,
    st.lists(any_float, max_size=4),
    st.lists(st.lists(any_float, max_size=3), max_size=4),  # ragged when lengths differ
    st.lists(st.one_of(any_float, ros_text, st.none()), max_size=3),
    st.builds(lambda r, c, v: np.full((r, c), v), st.integers(0, 4), st.integers(0, 3), any_float),
    st.builds(lambda n: np.zeros((2, 2, n)), st.integers(0, 2)),
    st.just(np.array([1 + 2j])),
    st.just(np.array(["a", "b"])),
    st.just(np.array([object()], dtype=object)),
    st.just({"a": 1}),
)


@fuzz_settings(60)
@given(
    task=st.one_of(ros_text, st.sampled_from(TASKS), st.none(), st.integers(), st.just(b"arm2")),
    parts=st.lists(array_like, min_size=4, max_size=4),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2)),
    keep=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_check_episode_any_fields(task, parts, shape, keep):
    """An Episode built in Python from any values: a valid float64 episode or TransitionError."""
    T, O, A = shape
    good = good_episode(T, O, A, "arm2/reach")
    values = [
        getattr(good, k) if kept else p
        for k, kept, p in zip(("obs", "action", "reward", "terminated"), keep, parts, strict=True)
    ]
    ep = Episode(task if not all(keep) else "arm2/reach", *values)
    out = verdict("ros/transitions", lambda: check_episode(ep, TASKS), (TransitionError,))
    if out is not None:
        assert_valid_episode(out)


# -- 2. sensor_msgs/JointState and goals ----------------------------------------------------
joint_names = st.one_of(st.sampled_from([*JOINTS, "", "gripper", " shoulder"]), ros_text)
value_lists = st.lists(any_float, max_size=5)


@st.composite
def joint_states(draw, usable: bool = False) -> JointState:
    """A JointState of any shape: lengths that disagree, repeated/empty/unknown names.

    `usable`: the arm's joints in any order (maybe with extra ones), one value each, mostly
    in range: what a robot driver sends, with the occasional NaN, Inf or huge reading.
    """
    if usable or draw(st.booleans()):  # well-formed shape
        extra = joint_names.filter(lambda n: n not in JOINTS) if usable else joint_names
        names = draw(st.permutations([*JOINTS, *draw(st.lists(extra, max_size=2, unique=True))]))
        n = len(names)
        values = st.lists(small_float if usable else any_float, min_size=n, max_size=n)
        pos, vel = draw(values), draw(values)
        if usable:  # mostly in range, so that many ticks reach the model; a few bad values
            for i, x in draw(
                st.lists(st.tuples(st.integers(0, 2 * n - 1), any_float), max_size=2)
            ):
                (pos if i < n else vel)[i % n] = x
            if draw(st.integers(0, 9)) == 7:
                vel = []  # a driver that sends no velocities
        elif draw(st.booleans()):
            vel = []
    else:
        names, pos, vel = (
            draw(st.lists(joint_names, max_size=5)),
            draw(value_lists),
            draw(value_lists),
        )
    msg = JointState()
    msg.header.stamp = draw(stamps)
    msg.header.frame_id = draw(st.sampled_from(["", "world", "base_link"]))
    msg.name, msg.position, msg.velocity, msg.effort = names, pos, vel, draw(value_lists)
    return msg


def same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@fuzz_settings(80)
@given(msg=joint_states())
def test_joint_state_to_dicts_any_shape(msg):
    """Any JointState: positions/velocities by name (values as sent), or MessageError."""
    out = verdict("ros/joint_state", lambda: joint_state_to_dicts(msg), (MessageError,))
    if out is None:
        return
    positions, velocities = out
    assert list(positions) == list(msg.name)
    assert all(same_float(positions[n], x) for n, x in zip(msg.name, msg.position, strict=True))
    assert list(velocities) == (list(msg.name) if len(msg.velocity) else [])
    assert all(same_float(velocities[n], x) for n, x in zip(msg.name, msg.velocity, strict=False))


@st.composite
def points(draw, usable: bool = False) -> PointStamped:
    """A PointStamped in any frame with any coordinates (`usable`: in the expected frame)."""
    msg = PointStamped()
    msg.header.stamp = draw(stamps)
    frames = ["world", "", "camera", " world", "World"]
    frame = st.sampled_from(frames[:2]) if usable else st.one_of(st.sampled_from(frames), ros_text)
    msg.header.frame_id = draw(frame)
    xyz = draw(st.lists(st.one_of(st.floats(-1.0, 1.0), any_float), min_size=3, max_size=3))
    msg.point.x, msg.point.y, msg.point.z = xyz
    return msg


@fuzz_settings(50)
@given(msgs=st.lists(points(), min_size=1, max_size=4), js_stamp=stamps)
def test_goal_points_any_frame_and_value(msgs, js_stamp):
    """Goals with NaN/Inf, any frame, any stamp: stored as sent or refused for their frame."""
    sensors = SensorInputs(FrameTree("base_link", {"world": np.eye(4)}))
    stored = []
    for msg in msgs:
        taken = verdict(
            "ros/goal", lambda m=msg: sensors.on_point("goal", m) or True, (MessageError,)
        )
        accepted = msg.header.frame_id in ("", "world", "base_link")
        assert bool(taken) == accepted, msg.header.frame_id
        if taken:
            stored.append((stamp_ns(msg.header.stamp), msg.point))
    assert sensors.frame_errors == len(msgs) - len(stored)
    inputs = sensors.inputs.as_of(stamp_ns(js_stamp))
    if not stored:
        assert inputs == {}
        return
    goal = inputs["goal"]
    assert goal.shape == (3,)
    assert any(
        all(same_float(g, x) for g, x in zip(goal, (p.x, p.y, p.z), strict=True))
        for _, p in stored
    )


@pytest.fixture(scope="module")
def loops(reach_checkpoint):
    """The shipped arm2/reach checkpoint as the controller loads it: policy only and planning."""
    base = dict(checkpoint=str(reach_checkpoint), task="arm2/reach")
    return {
        False: load_control_loop(ControllerParams(**base, use_planner=False)),
        # 10 Hz with most of the period for planning: the planner runs on a busy CPU too
        True: load_control_loop(
            ControllerParams(
                **base,
                use_planner=True,
                planner_overrides=PLANNER,
                control_rate_hz=10.0,
                planner_budget_fraction=0.95,
            )
        ),
    }


@fuzz_settings(60)
@given(
    usable=st.tuples(joint_states(usable=True), points(usable=True)),
    others=st.lists(
        st.one_of(joint_states(), points(), joint_states(usable=True), points(usable=True)),
        max_size=3,
    ),
    order=st.randoms(use_true_random=False),
    planner=st.booleans(),
    delay=st.one_of(
        st.none(), st.none(), st.floats(-1.0, 1.0), st.sampled_from([0.0, 0.05, 0.2, 1e9])
    ),
)
def test_control_loop_tick_any_sensor_input(loops, usable, others, order, planner, delay):
    """Whatever JointState and goals arrive, tick() returns a finite command within limits."""
    loop = loops[planner]
    sensors = SensorInputs(FrameTree("base_link", {"world": np.eye(4)}))
    events = [*others, *usable]  # the usable readings last (newest), or anywhere
    if order.random() < 0.5:
        order.shuffle(events)
    for msg in events:
        if isinstance(msg, JointState):
            verdict("ros/joint_state", lambda m=msg: sensors.on_joint_state(m), (MessageError,))
        else:
            verdict("ros/goal", lambda m=msg: sensors.on_point("goal", m), (MessageError,))
    snap = sensors.snapshot()
    now = None if delay is None or snap.joint_stamp_s is None else snap.joint_stamp_s + delay
    res = verdict("ros/control_loop", lambda: loop.tick(snap, now), ())
    check_tick(loop, res)


def check_tick(loop, res) -> None:
    """The tick's promise: a finite (J,) command within the effort limits; errors say why."""
    limit = loop.context.safety.effort_max
    assert res.command.shape == (len(loop.context.joint_names),)
    assert np.all(np.isfinite(res.command)), res
    assert np.all(np.abs(res.command) <= limit + 1e-9), (res.command, limit)
    if res.error:
        assert res.state != SafetyState.OK, res
    if res.state == SafetyState.OK:
        assert res.obs is not None and np.all(np.isfinite(res.obs))


@fuzz_settings(40)
@given(
    positions=st.dictionaries(joint_names, st.one_of(small_float, any_float), max_size=4),
    velocities=st.dictionaries(joint_names, st.one_of(small_float, any_float), max_size=4),
    goal=st.one_of(
        st.none(), st.lists(st.one_of(st.floats(-1, 1), any_float), min_size=3, max_size=3)
    ),
    age=st.one_of(st.none(), st.floats(-10.0, 10.0), st.just(0.0)),
)
def test_control_loop_tick_any_snapshot(loops, positions, velocities, goal, age):
    """A snapshot with any joints and values (not only what a JointState can say)."""
    loop = loops[False]
    for j in JOINTS[: len(positions) % 3]:  # often the right joints, with any values
        positions.setdefault(j, 0.1)
        velocities.setdefault(j, 0.0)
    inputs = {} if goal is None else {"goal": np.array(goal, np.float64)}
    now = time.monotonic()
    snap = SensorSnapshot(positions, velocities, inputs, None if age is None else now - age)
    res = verdict("ros/control_loop", lambda: loop.tick(snap, now), ())
    check_tick(loop, res)


# -- 3. parameters --------------------------------------------------------------------------
PATH_TRICKS = [
    "",
    " ",
    "../../etc/passwd",
    "/",
    "~",
    "~/x",
    "a\nb",
    "$HOME",
    "//m3po//checkpoint",
    "cpu ",
    "CUDA",
    "true",
    "False",
    "1e3",
    "nan",
    "-inf",
    "0x10",
    "1_000",
    "９",
    "9" * 5000,
]
GOOD_TOPICS = ["m3po/checkpoint", "/m3po/transitions", "~", "~/x", "{node}/x", "a_1/b_2", "_a"]
TOPIC_TRICKS = [
    *GOOD_TOPICS,
    "a//b",
    "a/",
    "1abc",
    "a/1b",
    "a b",
    "a-b",
    "ä",
    "/~x",
    "{",
]
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31),
    st.integers(-(2**2000), 2**2000),
    st.sampled_from([0, 1, -1, 2**63, 2**1100, 10**400, 10**5000]),
    any_float,
    st.sampled_from(PATH_TRICKS),
    st.sampled_from(TOPIC_TRICKS),
    ros_text,
    st.lists(st.integers(), max_size=3),
    st.binary(max_size=4),
    st.just(np.float64(0.5)),
    st.just(np.int64(3)),
    st.just(np.nan),
    st.just(1 + 2j),
    st.just({"a": 1}),
)
PARAM_CLASSES = (ControllerParams, SimParams, LearnerParams)
param_fields = st.sampled_from([(cls, f.name) for cls in PARAM_CLASSES for f in fields(cls)])


@fuzz_settings(80)
@given(field_=param_fields, value=any_value)
def test_check_value_any_value(field_, value):
    """Any value of any type for any field: accepted (and then constructible) or ParamError."""
    cls, name = field_
    ok = verdict("ros/params", lambda: check_value(cls, name, value) or True, (ParamError,))
    obj = verdict("ros/params", lambda: cls(**{name: value}), (ParamError,))
    if obj is not None:
        assert ok
        assert getattr(obj, name) == value
        validate(obj)
        if cls.__dataclass_fields__[name].metadata.get("topic") and value:
            validate_topic_name(value)  # what the node's create_publisher will accept
    elif ok:
        # accepted alone, refused together with the defaults: only the cross-field rules
        assert (cls, name) in ((ControllerParams, "follow_learner"), (LearnerParams, "mode"))


TOPIC_FIELDS = [
    (cls, f.name, f.metadata["topic"])
    for cls in PARAM_CLASSES
    for f in fields(cls)
    if f.metadata.get("topic")
]


@fuzz_settings(60)
@given(
    field_=st.sampled_from(TOPIC_FIELDS),
    name=st.one_of(st.sampled_from(TOPIC_TRICKS), st.text("ab1_/~{} -", max_size=8)),
)
def test_topic_parameters_accept_only_what_rcl_accepts(field_, name):
    """A topic parameter takes only names rcl takes (and "" where that means off).

    Stricter than rcl on oddities it lets through ("~1"), never on the usual names.
    """
    cls, param_name, kind = field_
    ok = verdict("ros/params", lambda: check_value(cls, param_name, name) or True, (ParamError,))
    try:
        rcl_ok = validate_topic_name(name)
    except InvalidTopicNameException:
        rcl_ok = False
    if ok:
        assert rcl_ok or (kind == "optional" and name == ""), (param_name, name)
    if name in GOOD_TOPICS or (kind == "optional" and name == ""):
        assert ok, (param_name, name)


@fuzz_settings(60)
@given(
    cls=st.sampled_from(PARAM_CLASSES),
    data=st.data(),
)
def test_params_dataclass_any_kwargs(cls, data):
    """Several fields at once with any values: a valid params object or ParamError."""
    names = [f.name for f in fields(cls)]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=5))
    kwargs = {n: data.draw(any_value) for n in chosen}
    obj = verdict("ros/params", lambda: cls(**kwargs), (ParamError,))
    if obj is not None:
        validate(obj)


@fuzz_settings(80)
@given(
    field_=st.one_of(param_fields, st.tuples(st.sampled_from(PARAM_CLASSES), ros_text)),
    text=st.one_of(st.sampled_from(PATH_TRICKS), ros_text, any_value),
)
def test_convert_value_any_text(field_, text):
    """A launch argument / stack value of any text or type: a valid value or ParamError."""
    cls, name = field_

    def parse():
        value = convert_value(cls, name, text)
        check_value(cls, name, value)
        return value

    value = verdict("ros/params", parse, (ParamError,))
    if value is not None:
        kind = type({f.name: f for f in fields(cls)}[name].default)
        assert isinstance(value, kind) or (kind is float and type(value) is int)


# -- 3b. a live node's parameter service ----------------------------------------------------
@pytest.fixture(scope="module")
def param_node():
    """An unconfigured controller node (no checkpoint) spun in its own rclpy context."""
    ros = Ros()
    node = ros.spin(ControllerNode(context=ros.context))
    yield ros, node
    ros.shutdown()


ros_value = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2**31, 100, 10**6]),
    any_float,
    st.sampled_from(PATH_TRICKS[:-1] + TOPIC_TRICKS),
    ros_text,
    st.lists(st.integers(-5, 5), min_size=1, max_size=3),
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=3),
    st.lists(ros_text, min_size=1, max_size=2),
)


@st.composite
def node_param_values(draw) -> tuple[str, object]:
    """A controller parameter and a value for it.

    Half the time of its type (in range, at or just past an edge of it), else of any type a
    parameter message can carry.
    """
    f = draw(st.sampled_from(fields(ControllerParams)))
    lo, hi = f.metadata.get("range", (-math.inf, math.inf))
    kind = type(f.default)
    if kind is bool:
        typed = st.booleans()
    elif kind is int:
        typed = st.one_of(st.integers(int(lo), int(hi)), st.sampled_from([lo - 1, hi + 1]))
    elif kind is float:
        edges = [lo, hi, lo - 1e-3, hi * (1 + 1e-7), math.nextafter(lo, -math.inf)]
        typed = st.one_of(st.floats(lo, hi), st.sampled_from(edges))
    else:
        tricks = [*f.metadata.get("choices", ()), *PATH_TRICKS[:-1], *TOPIC_TRICKS]
        typed = st.one_of(st.sampled_from(tricks), ros_text)
    return f.name, draw(st.one_of(typed, ros_value))


@fuzz_settings(20)
@given(name_value=node_param_values())
def test_node_parameter_service_refuses_bad_values(param_node, name_value):
    """`ros2 param set` with any value: refused with a reason, or stored; the node stays up."""
    ros, node = param_node
    name, value = name_value
    before = node.get_parameter(name).value
    result = verdict("ros/params_node", lambda: set_param(ros, "/controller", name, value), ())
    kind = type(ControllerParams.__dataclass_fields__[name].default)
    try:
        check_value(ControllerParams, name, value)
        valid = type(value) is kind
    except ParamError:
        valid = False
    if valid:
        assert result.successful, (name, value, result.reason)
        assert node.get_parameter(name).value == value
    else:
        assert not result.successful, (name, value)
        assert result.reason.strip()
        after = node.get_parameter(name).value
        assert after == before or (after != after and before != before)
    for f in fields(ControllerParams):  # every stored value is still a valid one
        check_value(ControllerParams, f.name, node.get_parameter(f.name).value)
    assert get_state(ros, "/controller") == "unconfigured"
