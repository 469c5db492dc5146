"""Episodes of transitions as one std_msgs/Float64MultiArray (no custom .msg).

Encoding of an episode of T steps with O-dimensional observations and A-dimensional
normalised actions (`m3po/transitions`, sent by `sim_node` with `publish_transitions`):

    layout.data_offset = 0
    layout.dim = [
        (label="m3po_transitions/1 task=<task>", size=T,  stride=len(data)),
        (label="obs",        size=O, stride=(T+1)*O),   # observations s_0 .. s_T
        (label="action",     size=A, stride=T*A),       # normalised actions in [-1, 1]
        (label="reward",     size=1, stride=T),
        (label="terminated", size=1, stride=T),         # 1.0 where the step ended the task
    ]
    data = [obs (T+1, O) row-major | action (T, A) | reward (T) | terminated (T)]

Each block's `stride` is its length, so the blocks are found without knowing the task. An
episode cut short (a reset, a task switch, a time limit) has no terminal step: every
`terminated` is 0. The pack/unpack pair below is pure Python (numpy); `episode_to_msg` and
`msg_to_episode` wrap it in the ROS message.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

FORMAT = "m3po_transitions/1"
BLOCKS = ("obs", "action", "reward", "terminated")


class TransitionError(ValueError):
    """A transitions message that cannot be decoded; the message says what is wrong."""


@dataclass(frozen=True)
class Episode:
    """One episode: obs (T+1, O), action (T, A), reward (T,), terminated (T,)."""

    task: str
    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray

    @property
    def steps(self) -> int:
        """Number of transitions T."""
        return len(self.action)


def _check_task(task: str, tasks: Collection[str] | None) -> None:
    if not isinstance(task, str):
        raise TransitionError(f"task name must be a string, got {type(task).__name__}")
    if not task or any(c.isspace() for c in task):
        raise TransitionError(f"bad task name {task!r} (empty or with whitespace)")
    if tasks is not None and task not in tasks:
        raise TransitionError(f"unknown task {task!r}; known tasks: {sorted(tasks)}")


def _as_float_array(task: str, name: str, x: object) -> np.ndarray:
    """`x` as a float64 array; TransitionError when it is not numbers (strings, ragged...)."""
    try:
        if np.iscomplexobj(x):  # a cast to float would drop the imaginary part silently
            raise TypeError("complex values")
        return np.asarray(x, np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TransitionError(f"{task}: {name} is not an array of numbers ({exc})") from exc


def check_episode(ep: Episode, tasks: Collection[str] | None = None) -> Episode:
    """Validate shapes and values of `ep` (raises TransitionError); returns float64 arrays."""
    _check_task(ep.task, tasks)
    obs, action, reward, term = (
        _as_float_array(ep.task, name, getattr(ep, name)) for name in BLOCKS
    )
    if action.ndim != 2 or action.shape[0] < 1 or action.shape[1] < 1:
        raise TransitionError(f"{ep.task}: action must be (T>=1, A>=1), got {action.shape}")
    T = action.shape[0]
    if obs.ndim != 2 or obs.shape[0] != T + 1 or obs.shape[1] < 1:
        raise TransitionError(f"{ep.task}: obs must be ({T + 1}, O) for T={T}, got {obs.shape}")
    for name, x in (("reward", reward), ("terminated", term)):
        if x.shape != (T,):
            raise TransitionError(f"{ep.task}: {name} must be ({T},), got {x.shape}")
    for name, x in (("obs", obs), ("action", action), ("reward", reward)):
        if not np.isfinite(x).all():
            raise TransitionError(f"{ep.task}: {name} contains NaN/Inf")
    if not np.isin(term, (0.0, 1.0)).all():
        raise TransitionError(f"{ep.task}: terminated must be 0 or 1")
    if np.abs(action).max() > 1.0 + 1e-9:
        raise TransitionError(
            f"{ep.task}: actions must be normalised to [-1, 1] (max |a| = "
            f"{np.abs(action).max():.3g})"
        )
    return Episode(ep.task, obs, action, reward, term)


def pack(ep: Episode) -> tuple[list[tuple[str, int, int]], np.ndarray]:
    """(dims as (label, size, stride), data) of an episode; see the module docstring."""
    ep = check_episode(ep)
    T, O, A = ep.steps, ep.obs.shape[1], ep.action.shape[1]
    data = np.concatenate([ep.obs.ravel(), ep.action.ravel(), ep.reward, ep.terminated]).astype(
        np.float64
    )
    dims = [
        (f"{FORMAT} task={ep.task}", T, len(data)),
        ("obs", O, (T + 1) * O),
        ("action", A, T * A),
        ("reward", 1, T),
        ("terminated", 1, T),
    ]
    return dims, data


def unpack(
    dims: list[tuple[str, int, int]],
    data,
    data_offset: int = 0,
    tasks: Collection[str] | None = None,
) -> Episode:
    """Inverse of `pack`. Raises TransitionError naming what is malformed.

    `tasks`, when given, are the tasks the receiver knows; others are refused.
    """
    if len(dims) != 1 + len(BLOCKS):
        raise TransitionError(
            f"expected {1 + len(BLOCKS)} layout dims (header + {list(BLOCKS)}), got {len(dims)}"
        )
    head_label, T, total = dims[0]
    prefix = f"{FORMAT} task="
    if not head_label.startswith(prefix):
        raise TransitionError(
            f"first dim label {head_label!r} does not start with {prefix!r} (not a transitions "
            "message, or another format version)"
        )
    task = head_label[len(prefix) :]
    _check_task(task, tasks)
    if data_offset != 0:
        raise TransitionError(f"{task}: data_offset must be 0, got {data_offset}")
    if T < 1:
        raise TransitionError(f"{task}: episode has {T} steps (need >= 1)")
    data = np.asarray(data, np.float64)
    if total != len(data):
        raise TransitionError(f"{task}: header stride {total} != data length {len(data)}")
    O, A = dims[1][1], dims[2][1]
    expected = {
        "obs": (O, (T + 1) * O),
        "action": (A, T * A),
        "reward": (1, T),
        "terminated": (1, T),
    }
    blocks, start = {}, 0
    for name, (label, size, stride) in zip(BLOCKS, dims[1:], strict=True):
        if label != name:
            raise TransitionError(f"{task}: dim label {label!r} where {name!r} was expected")
        if (size, stride) != expected[name] or size < 1:
            raise TransitionError(
                f"{task}: {name} dim has size {size} / stride {stride}, expected "
                f"size {expected[name][0]} (>= 1) / stride {expected[name][1]} for T={T}"
            )
        blocks[name] = data[start : start + stride]
        start += stride
    if start != len(data):
        raise TransitionError(f"{task}: blocks cover {start} values, data has {len(data)}")
    ep = Episode(
        task,
        blocks["obs"].reshape(T + 1, O),
        blocks["action"].reshape(T, A),
        blocks["reward"],
        blocks["terminated"],
    )
    return check_episode(ep, tasks)


def episode_to_msg(ep: Episode):
    """std_msgs/Float64MultiArray carrying `ep`."""
    from std_msgs.msg import Float64MultiArray, MultiArrayDimension, MultiArrayLayout

    dims, data = pack(ep)
    layout = MultiArrayLayout(
        dim=[MultiArrayDimension(label=lb, size=s, stride=st) for lb, s, st in dims],
        data_offset=0,
    )
    return Float64MultiArray(layout=layout, data=data)


def msg_to_episode(msg, tasks: Collection[str] | None = None) -> Episode:
    """Decode a std_msgs/Float64MultiArray from `episode_to_msg` (TransitionError if not)."""
    dims = [(d.label, int(d.size), int(d.stride)) for d in msg.layout.dim]
    return unpack(dims, msg.data, int(msg.layout.data_offset), tasks)
