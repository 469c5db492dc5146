"""Writing rosbag2 bags of MuJoCo rollouts without ROS (tests, benchmarks, demos).

The bag carries what the stack's topics would: `joint_states` (sensor_msgs/JointState,
header-stamped), `joint_commands` (std_msgs/Float64MultiArray efforts) and the task inputs
(`goal` as geometry_msgs/PointStamped), written with the `rosbags` writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SimBagOptions:
    """Timing of the simulated recording."""

    storage: str = "mcap"  # mcap | sqlite3
    start_ns: int = 1_700_000_000_000_000_000  # wall-clock time of the first tick
    latency_ns: int = 2_000_000  # command receive time after the state it answers
    jitter_ns: int = 0  # extra delivery delay of every message, uniform in [0, jitter_ns]
    stamp_offset_ns: int = 0  # header stamps on another clock (e.g. sim time): stamp = t - offset
    shuffle_frac: float = 0.0  # fraction of messages written out of time order
    episode_steps: int = 0  # reset the env every N steps (0: the task's episode length)
    gap_after_episode_s: float = 0.0  # pause in the log between episodes
    topic_prefix: str = ""  # e.g. "/arm" -> /arm/joint_states
    chunk_messages: int = 0  # MCAP: close a chunk every N messages (0: the writer's 1 MiB)
    joint_names: tuple[str, ...] = ()  # rename the JointState joints (bad-input tests)
    trajectory: bool = False  # commands as trajectory_msgs/JointTrajectory (position drive)


def smooth_random_policy(
    action_dim: int, seed: int = 0, scale: float = 0.8, smoothing: float = 0.8
) -> Callable[[np.ndarray], np.ndarray]:
    """Correlated random actions in [-scale, scale]: enough excitation to learn dynamics."""
    rng = np.random.default_rng(seed)
    state = np.zeros(action_dim)

    def act(_obs: np.ndarray) -> np.ndarray:
        nonlocal state
        state = smoothing * state + (1 - smoothing) * rng.uniform(-1, 1, action_dim) * 2.5
        return np.clip(state, -scale, scale)

    return act


def write_sim_bag(
    path: str | Path,
    task: str,
    steps: int,
    seed: int = 0,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    options: SimBagOptions | None = None,
) -> dict:
    """Roll out `task` for `steps` control ticks and write a rosbag2 bag at `path`.

    Returns counts {"messages", "ticks", "episodes"} and the rollout as the env saw it:
    "obs" (steps, O), "action" (steps, A) normalised, "reward" (steps,), "next_obs" (steps, O).
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from m3po_learning.envelope import Envelope
    from m3po_learning.envs import make_env

    o = options or SimBagOptions()
    ts = get_typestore(Stores.ROS2_KILTED)
    T = ts.types
    # The bag logs a robot driven by a controller: the commands recorded are what its
    # actuators get (the controller's safety layer is upstream), so only the drives' own
    # velocity limits act in the simulation, as on the sim node.
    env = make_env(task, seed=seed, envelope=Envelope.drive_only())
    policy = policy or smooth_random_policy(env.spec.action_dim, seed)
    action_spec = env.action_spec
    dt_ns = int(round(env.spec.control_dt * 1e9))
    ep_len = o.episode_steps or env.spec.episode_length
    rng = np.random.default_rng(seed + 1)
    plugin = StoragePlugin.MCAP if o.storage == "mcap" else StoragePlugin.SQLITE3
    pre = o.topic_prefix
    cmd_type = (
        "trajectory_msgs/msg/JointTrajectory" if o.trajectory else "std_msgs/msg/Float64MultiArray"
    )
    records: list[tuple[int, str, bytes]] = []

    def header(t_ns: int):
        s = t_ns - o.stamp_offset_ns
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=s // 10**9, nanosec=s % 10**9), frame_id=""
        )

    def jitter() -> int:
        return int(rng.integers(0, o.jitter_ns + 1)) if o.jitter_ns else 0

    obs, _ = env.reset(seed=seed)
    t_ns, episodes = o.start_ns, 1
    roll: dict[str, list] = {"obs": [], "action": [], "reward": [], "next_obs": []}
    for k in range(steps):
        if k and k % ep_len == 0:
            obs, _ = env.reset()
            episodes += 1
            t_ns += int(o.gap_after_episode_s * 1e9)
        names, pos, vel, eff = env.joint_state()
        js = T["sensor_msgs/msg/JointState"](
            header=header(t_ns),
            name=list(o.joint_names or names),
            position=pos,
            velocity=vel,
            effort=eff,
        )
        js_recv = t_ns + 300_000 + jitter()
        records.append(
            (js_recv, "joint_states", ts.serialize_cdr(js, "sensor_msgs/msg/JointState"))
        )
        for name, value in env.task_inputs().items():
            pt = T["geometry_msgs/msg/PointStamped"](
                header=header(t_ns),
                point=T["geometry_msgs/msg/Point"](x=value[0], y=value[1], z=value[2]),
            )
            records.append(
                (
                    t_ns + 300_000 + jitter(),
                    name,
                    ts.serialize_cdr(pt, "geometry_msgs/msg/PointStamped"),
                )
            )
        action = np.asarray(policy(obs), np.float64)
        q_act = pos[[list(names).index(n) for n in action_spec.names]]
        setpoint = action_spec.to_command(np.clip(action, -1.0, 1.0), q_act)  # drive's units
        if o.trajectory:
            point = T["trajectory_msgs/msg/JointTrajectoryPoint"](
                positions=setpoint,
                velocities=np.zeros(0),
                accelerations=np.zeros(0),
                effort=np.zeros(0),
                time_from_start=T["builtin_interfaces/msg/Duration"](sec=0, nanosec=dt_ns),
            )
            cmd = T[cmd_type](
                header=header(0), joint_names=list(action_spec.names), points=[point]
            )
        else:
            cmd = T[cmd_type](
                layout=T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=setpoint
            )
        # causal: the controller answers the state it received, after its compute latency
        records.append(
            (
                js_recv + o.latency_ns + jitter(),
                "joint_commands",
                ts.serialize_cdr(cmd, cmd_type),
            )
        )
        roll["obs"].append(obs)
        obs, reward, *_ = env.step(action)
        roll["action"].append(np.clip(action, -1, 1))
        roll["reward"].append(reward)
        roll["next_obs"].append(obs)
        t_ns += dt_ns
    if o.shuffle_frac > 0:
        idx = np.nonzero(rng.random(len(records)) < o.shuffle_frac)[0]
        for i in idx:  # swap with a neighbour a few messages later
            j = min(len(records) - 1, i + int(rng.integers(1, 6)))
            records[i], records[j] = records[j], records[i]
    types = {
        "joint_states": "sensor_msgs/msg/JointState",
        "joint_commands": cmd_type,
    }
    types.update({n: "geometry_msgs/msg/PointStamped" for n in env.task_inputs()})
    with Writer(Path(path), version=9, storage_plugin=plugin) as writer:
        conns = {n: writer.add_connection(f"{pre}/{n}", t, typestore=ts) for n, t in types.items()}
        for i, (t, name, raw) in enumerate(records, 1):
            writer.write(conns[name], t, raw)
            if o.chunk_messages and o.storage == "mcap" and i % o.chunk_messages == 0:
                writer.storage.close_chunk()
    out = {k: np.asarray(v, np.float64) for k, v in roll.items()}
    return {"messages": len(records), "ticks": steps, "episodes": episodes, **out}
