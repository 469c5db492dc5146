"""Rosbags -> episodes of transitions for one task: the offline fine-tuning data path.

Per bag: stream the mapped topics (joint states, commands, task inputs), put them on one
clock, align them on the controller's ticks, split episodes at gaps, resets and
terminations, and build each tick's observation with the task's `ObservationSpec` (the
controller's own builder). Actions are the recorded efforts divided by the joints' effort
limits (for a position or velocity drive, `robot/task@position`, the recorded setpoints turned
back into actions at that tick's joint positions: `ActionSpec.command_to_action`); rewards
are recomputed by the task from the state each action led to.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m3po_learning.datasets.alignment import Timeline, align_ticks, runs, timeline
from m3po_learning.datasets.bag_reader import BagSource, OpenBag, find_bags
from m3po_learning.datasets.decoders import (
    TRAJECTORY,
    CommandDecoder,
    InputDecoder,
    JointStateDecoder,
    MarkerDecoder,
    make_typestore,
    register_from_bag,
)
from m3po_learning.datasets.errors import BagError
from m3po_learning.datasets.state_reward import StateReward
from m3po_learning.datasets.topic_map import TopicMap, load_topic_map, resolve_topic
from m3po_learning.yaml_io import short_repr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Episode:
    """T transitions of one task from one bag; observations unpadded."""

    obs: np.ndarray  # (T+1, O) float32
    action: np.ndarray  # (T, A) float32, normalised to [-1, 1]
    reward: np.ndarray  # (T,) float32, recomputed by the task
    terminated: np.ndarray  # (T,) float32, 1.0 only possibly at the last step
    time_s: np.ndarray  # (T+1,) tick times, seconds since the bag's first message
    bag: str  # the bag it came from

    def __len__(self) -> int:
        return len(self.action)


@dataclass
class BagDataset:
    """Everything read from a set of bags for one task."""

    task: str
    episodes: list[Episode]
    stats: dict = field(default_factory=dict)  # counts and rates, see `load_bag_dataset`
    warnings: list[str] = field(default_factory=list)

    @property
    def num_transitions(self) -> int:
        """Transitions over all episodes."""
        return sum(len(e) for e in self.episodes)


@dataclass(frozen=True)
class AlignOptions:
    """How messages become ticks and episodes."""

    rate_hz: float | None = None  # controller rate; None: the bag's own command rate
    max_gap_s: float | None = None  # gap that splits episodes; None: 4 tick periods
    max_joint_jump_rad: float = 1.0  # a joint moving more than this in one tick is a reset
    max_input_jump: float = 0.1  # a task input (e.g. goal, m) moving more than this: new episode
    clip_warn_frac: float = 0.01  # warn when more than this fraction of actions is clipped

    def __post_init__(self) -> None:
        if self.rate_hz is not None and not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise BagError(f"rate_hz={self.rate_hz} must be a positive number")
        if self.max_gap_s is not None and not self.max_gap_s > 0:
            raise BagError(f"max_gap_s={self.max_gap_s} must be > 0")


class _TaskView:
    """What the reader needs from the task: joints, inputs, limits, obs builder, reward."""

    def __init__(self, task: str, joint_names: Sequence[str] | None):
        from m3po_learning.envs import make_env

        try:
            env = make_env(task)
        except ValueError as exc:
            raise BagError(str(exc)) from exc
        self.task, self.env, self.spec = task, env, env.spec
        self.obs_spec = env.observation_spec
        if joint_names is not None and tuple(joint_names) != tuple(env.spec.joint_names):
            raise BagError(
                f"task {task!r}: the checkpoint drives joints {list(joint_names)}, but the task "
                f"definition drives {list(env.spec.joint_names)}"
            )
        self.action_spec = env.action_spec
        robot_joints = list(env.robot.joint_names)
        obs_joints = list(self.obs_spec.joint_names)
        # Every robot joint the message carries (the reward may read any), obs joints first.
        self.state_joints = obs_joints + [j for j in robot_joints if j not in obs_joints]
        self.required = obs_joints
        self.need_velocity = list(self.obs_spec.velocity_joints)
        self.input_sizes = dict(self.obs_spec.input_sizes)
        self.reward = StateReward(env, self.state_joints)


def load_bag_dataset(
    bags: Sequence[str | Path],
    task: str,
    topic_map: TopicMap | str | Path | None = None,
    options: AlignOptions | None = None,
    joint_names: Sequence[str] | None = None,
    progress: bool = True,
    skip_bad: bool = False,
) -> BagDataset:
    """Read bags (directories, storage files or directories of bags) into episodes of `task`.

    Args:
        bags: paths; each may be a bag, a storage file, or a directory holding bags.
        task: registry task name; its observation spec, limits and reward are used.
        topic_map: a TopicMap, a YAML path/name, or None for config/topics/default.yaml.
        options: tick alignment and episode splitting.
        joint_names: the checkpoint's joints for the task, checked against the task.
        progress: show a tqdm bar over messages.
        skip_bad: with several bags, a bag that raises BagError is skipped with a warning
            naming it (in `warnings` and the log) instead of failing the whole read; the
            read fails only when no bag was usable.

    Raises:
        BagError: missing topics (the message lists what the bag has), unsupported message
            types, joint names that do not match, empty bags, or no usable transitions;
            also any damage (storage files, metadata.yaml) that leaves nothing readable.
            Damage short of that never raises: the bag is read as far as it is intact and
            each skipped part (a message, a chunk, the metadata) is named in `warnings`.
    """
    options = options or AlignOptions()
    tmap = topic_map if isinstance(topic_map, TopicMap) else load_topic_map(topic_map)
    view = _TaskView(task, joint_names)
    sources = find_bags(bags)
    typestore = make_typestore()
    dataset = BagDataset(
        task,
        [],
        {
            "bags": len(sources),
            "messages": 0,
            "ticks": 0,
            "read_s": 0.0,
            "clipped_actions": 0,
            "episodes_split": 0,
        },
    )
    t_start = time.perf_counter()
    skipped: list[str] = []
    for src in sources:
        try:
            with OpenBag(src) as bag:
                episodes, stats = _read_bag(bag, src, view, tmap, options, typestore, progress)
                dataset.warnings.extend(bag.warnings)
        except BagError as exc:
            if not skip_bad or len(sources) == 1:
                raise
            skipped.append(str(exc))  # names the bag
            text = f"{exc} (skipped; the other bags are read)"
            dataset.warnings.append(text)
            log.warning("%s", text)
            continue
        dataset.episodes.extend(episodes)
        for k in ("messages", "ticks", "clipped_actions", "episodes_split"):
            dataset.stats[k] += stats[k]
    dataset.stats["read_s"] = time.perf_counter() - t_start
    dataset.stats["bags_skipped"] = len(skipped)
    if skipped and len(skipped) == len(sources):
        raise BagError(f"no bag was usable for {task!r}: " + "; ".join(skipped))
    dataset.stats["transitions"] = dataset.num_transitions
    dataset.stats["episodes"] = len(dataset.episodes)
    if not dataset.episodes:
        raise BagError(
            f"no usable transitions for {task!r} in {[s.name for s in sources]}: every tick "
            f"lacked a fresh joint state, command or input ({dataset.stats['ticks']} ticks)"
        )
    return dataset


def _read_bag(
    bag: OpenBag,
    src: BagSource,
    view: _TaskView,
    tmap: TopicMap,
    options: AlignOptions,
    typestore,
    progress: bool,
) -> tuple[list[Episode], dict]:
    name = src.name
    topics = bag.topics
    if not topics or all(t.count == 0 for t in topics.values()):
        raise BagError(
            f"bag {name} is empty: it holds no messages (topics: {sorted(topics) or 'none'})"
        )
    ns = tmap.namespace
    js_topic = resolve_topic("joint_states", tmap.joint_states, topics, ns, name)
    cmd_topic = resolve_topic("commands", tmap.commands, topics, ns, name)
    in_map = tmap.input_topics
    missing_inputs = [k for k in view.input_sizes if k not in in_map]
    if missing_inputs:
        raise BagError(
            f"task {view.task!r} needs inputs {missing_inputs}, which the topic map "
            f"does not name (it maps {sorted(in_map)}); add inputs.<name>: <topic>"
        )
    input_topics = {
        k: resolve_topic(f"input {k!r}", in_map[k], topics, ns, name) for k in view.input_sizes
    }
    split_topics = []
    for s in tmap.split_on:
        try:
            split_topics.append(resolve_topic("split_on", s, topics, ns, name))
        except BagError:
            bag.warn(f"bag {name}: split_on topic {s!r} is not in the bag; not splitting on it")
    decoders: dict[str, object] = {
        js_topic: JointStateDecoder(
            js_topic,
            topics[js_topic].msgtype,
            view.state_joints,
            view.need_velocity,
            view.required,
            name,
            view.task,
            rename=tmap.rename_joints if tmap.joint_map else None,
        ),
        cmd_topic: CommandDecoder(
            cmd_topic, topics[cmd_topic].msgtype, list(view.action_spec.names), name, view.task
        ),
    }
    if topics[cmd_topic].msgtype == TRAJECTORY and view.action_spec.drive != "position":
        raise BagError(
            f"bag {name}: commands on {cmd_topic} are JointTrajectory position setpoints, but "
            f"task {view.task!r} is {view.action_spec.drive}-driven (a position-drive task, "
            f"{view.task.partition('@')[0]}@position, reads them)"
        )
    for k, t in input_topics.items():
        if t in decoders:
            raise BagError(f"bag {name}: topic {t} is mapped to two roles")
        decoders[t] = InputDecoder(k, t, topics[t].msgtype, view.input_sizes[k], name)
    for t in split_topics:
        decoders.setdefault(t, MarkerDecoder())
    for t, dec in decoders.items():
        if not isinstance(dec, MarkerDecoder):
            register_from_bag(
                typestore,
                topics[t].msgtype,
                topics[t].extra.get("msgdef", ("", "")),
                f"bag {name}, topic {t}",
            )
    for t in (js_topic, cmd_topic, *input_topics.values()):
        if topics[t].count == 0:
            raise BagError(f"bag {name}: topic {t} has no messages")
    msgtypes = {t: topics[t].msgtype for t in decoders}
    bar = None
    if progress:
        from tqdm import tqdm

        total = bag.count(list(decoders)) or None
        bar = tqdm(
            total=total, desc=Path(name).name[:24], unit="msg", dynamic_ncols=True, mininterval=0.5
        )
    n = 0
    deserialize = typestore.deserialize_cdr
    try:
        for topic, t_ns, raw in bag.messages(list(decoders)):
            dec = decoders[topic]
            if isinstance(t_ns, bool) or not isinstance(t_ns, int) or not 0 <= t_ns < 2**63:
                # a damaged index or record: the time does not fit the int64 clock arrays
                bag.warn(
                    f"bag {name}: skipped a message on {topic} with an invalid log time "
                    f"{short_repr(t_ns)}"
                )
                continue
            if isinstance(dec, MarkerDecoder):
                dec.add_time(t_ns)
            else:
                try:
                    msg = deserialize(raw, msgtypes[topic])
                except Exception as exc:  # noqa: BLE001 - report which message is corrupt
                    bag.warn(
                        f"bag {name}: skipped an undecodable message on {topic} at "
                        f"{t_ns} ns: {exc}"
                    )
                    continue
                dec.add(t_ns, msg)
            n += 1
            if bar is not None and n % 4096 == 0:
                bar.update(4096)
    finally:
        if bar is not None:
            bar.update(n % 4096)
            bar.close()
    for t in (js_topic, cmd_topic, *input_topics.values()):
        if len(decoders[t]) == 0:
            raise BagError(f"bag {name}: no complete message on {t} could be read")
    episodes, stats = _episodes(
        name, decoders, js_topic, cmd_topic, input_topics, split_topics, view, options, bag
    )
    stats["messages"] = n
    return episodes, stats


def _episodes(
    name,
    decoders,
    js_topic,
    cmd_topic,
    input_topics,
    split_topics,
    view: _TaskView,
    options: AlignOptions,
    bag: OpenBag,
) -> tuple[list[Episode], dict]:
    t0 = min(int(np.min(d.log)) for d in decoders.values() if len(d))
    js = timeline(*decoders[js_topic].arrays(), t0)
    cmd = timeline(*decoders[cmd_topic].arrays(), t0)
    ins: dict[str, Timeline] = {
        k: timeline(*decoders[t].arrays(), t0) for k, t in input_topics.items()
    }
    splits = [timeline(*decoders[t].arrays(), t0).t for t in split_topics]
    split_t = np.sort(np.concatenate(splits)) if splits else np.zeros(0)
    for label, tl in [("joint_states", js), ("commands", cmd), *ins.items()]:
        if tl.out_of_order:
            log.info(
                "bag %s: %d out-of-order messages on %s re-sorted (%s clock)",
                name,
                tl.out_of_order,
                label,
                tl.clock,
            )
    ticks = align_ticks(
        cmd.t, js.t, {k: v.t for k, v in ins.items()}, split_t, options.rate_hz, options.max_gap_s
    )
    J = len(view.state_joints)
    P = js.values[:, :J]
    V = js.values[:, J:]
    # Resets and jumps: a joint that moved more than max_joint_jump_rad (wrapped) or an input
    # that jumped further than max_input_jump between ticks starts a new episode.
    starts = ticks.starts_run.copy()
    sidx = np.maximum(ticks.state, 0)
    q = P[sidx][:, : len(view.required)]
    dq = np.abs((np.diff(q, axis=0) + np.pi) % (2 * np.pi) - np.pi)
    jump = np.nan_to_num(dq, nan=0.0).max(axis=1, initial=0.0) > options.max_joint_jump_rad
    for k, tl in ins.items():
        x = tl.values[np.maximum(ticks.inputs[k], 0)]
        jump |= np.linalg.norm(np.diff(x, axis=0), axis=1) > options.max_input_jump
    starts[1:] |= jump
    commands = cmd.values[ticks.command]
    spec = view.action_spec
    if spec.drive == "effort":
        clipped = spec.saturated(commands)
        actions = spec.to_action(commands)
    else:  # setpoints: the action is relative to where the joints were at that tick
        cols = [list(view.state_joints).index(n) for n in spec.names]
        q_act = P[sidx][:, cols]
        raw = commands - q_act if spec.drive == "position" else commands
        clipped = np.abs(raw) > spec.scale + 1e-9
        actions = spec.command_to_action(commands, q_act)
    n_clipped = int(clipped.any(axis=1)[ticks.valid].sum())
    if ticks.valid.sum() and n_clipped > options.clip_warn_frac * ticks.valid.sum():
        bag.warn(
            f"bag {name}: {n_clipped} of {int(ticks.valid.sum())} commands exceed the "
            f"{spec.drive} drive's action range {spec.scale.tolist()} ({spec.units}) and were "
            "clipped to [-1, 1]"
        )
    build = view.obs_spec.build
    joints = view.state_joints
    episodes: list[Episode] = []
    n_split = 0
    for begin, end in runs(starts, ticks.valid):
        if end - begin < 2:
            continue
        k = np.arange(begin, end)
        obs = np.empty((len(k), view.obs_spec.obs_dim), np.float32)
        for row, kk in enumerate(k):
            si = ticks.state[kk]
            inputs = {name_: ins[name_].values[ticks.inputs[name_][kk]] for name_ in ins}
            obs[row] = build(
                dict(zip(joints, P[si], strict=True)),
                dict(zip(joints, V[si], strict=True)),
                inputs,
            )
        act = actions[k[:-1]].astype(np.float32)
        rew = np.empty(len(k) - 1, np.float32)
        term = np.zeros(len(k) - 1, np.float32)
        for row in range(len(k) - 1):
            kk = k[row + 1]
            si = ticks.state[kk]
            inputs = {name_: ins[name_].values[ticks.inputs[name_][kk]] for name_ in ins}
            r, done = view.reward(P[si], V[si], inputs, actions[k[row]])
            rew[row], term[row] = r, float(done)
        if not np.all(np.isfinite(obs)):
            bag.warn(f"bag {name}: dropped a run of {len(k)} ticks with NaN joint readings")
            continue
        if not (np.all(np.isfinite(act)) and np.all(np.isfinite(rew))):
            bag.warn(
                f"bag {name}: dropped a run of {len(k)} ticks with non-finite commands or "
                "rewards (NaN efforts, or joint readings the task cannot score)"
            )
            continue
        # A termination ends its episode; the ticks after it (if any) start a new one.
        ends = [int(i) + 1 for i in np.nonzero(term)[0]]
        n_split += sum(1 for e in ends if e < len(k) - 1)
        s = 0
        for e in [*ends, len(k) - 1]:
            if e > s:
                episodes.append(
                    Episode(
                        obs[s : e + 1], act[s:e], rew[s:e], term[s:e], ticks.t[k[s : e + 1]], name
                    )
                )
            s = e + 1 if e in ends else e
    stats = {
        "ticks": len(ticks.t),
        "clipped_actions": n_clipped,
        "episodes_split": n_split,
        "period_s": ticks.period_s,
        "max_gap_s": ticks.max_gap_s,
    }
    log.info(
        "bag %s: %d ticks (period %.4f s, %s clock for joint states) -> %d episodes, "
        "%d transitions",
        name,
        len(ticks.t),
        ticks.period_s,
        js.clock,
        len(episodes),
        sum(len(e) for e in episodes),
    )
    return episodes, stats
