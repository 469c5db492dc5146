"""Recording ROS 2 topics into rosbag2 (MCAP or sqlite3) with the `rosbags` writer.

For installs without rosbag2 (PyPI wheels). Messages are received serialized (no
deserialisation cost) and written with their receive time, as `ros2 bag record` does. Data
reaches the disk every `flush_period_s`: for MCAP the open chunk is closed and flushed, for
sqlite3 the transaction is committed, so a killed recorder loses at most that much and the
reader recovers everything before it. A clean stop (Ctrl-C, SIGTERM, `stop()`) writes the
MCAP summary/footer and metadata.yaml, which `ros2 bag info` and the `mcap` tools read.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from m3po_ros.params import declare_from_dataclass, param, validate


@dataclass(frozen=True)
class RecorderParams:
    """Runtime settings of the recorder node."""

    output: str = param("", "bag directory to create (must not exist); empty = rosbag2_<time>")
    topics: str = param(
        "joint_states joint_commands goal",
        "space- or comma-separated topics to record (relative names use the node's namespace)",
    )
    all_topics: bool = param(False, "record every topic that appears (topics is ignored)")
    storage: str = param("mcap", "storage plugin", choices=("mcap", "sqlite3"))
    flush_period_s: float = param(1.0, "seconds between flushes to disk", 0.05, 60.0)
    discovery_period_s: float = param(0.5, "seconds between looks for new topics", 0.05, 60.0)
    max_duration_s: float = param(0.0, "stop after this many seconds (0: until stopped)", 0.0, 1e7)

    def __post_init__(self) -> None:
        validate(self)


class BagWriter:
    """Thread-safe rosbags Writer with periodic flushes that survive a killed process."""

    def __init__(self, path: str | Path, storage: str = "mcap"):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already; the recorder never overwrites")
        if storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage={storage!r} is not mcap or sqlite3")
        self.storage = storage
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        self._lock = threading.Lock()
        self._conns: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def add_topic(self, topic: str, msgtype: str, qos=()) -> None:
        """Register `topic` (e.g. "/joint_states") of `msgtype` ("sensor_msgs/msg/JointState")."""
        if msgtype not in self.typestore.fielddefs:
            raise ValueError(
                f"cannot record {topic}: message type {msgtype!r} is not in the "
                "rosbags type store (standard ROS 2 Kilted messages only)"
            )
        with self._lock:
            if topic in self._conns:
                return
            self._conns[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos)
            )
            self.counts[topic] = 0

    def write(self, topic: str, t_ns: int, data: bytes) -> None:
        """Append serialized `data` of a registered `topic` at `t_ns` (ns since the epoch).

        Dropped once the bag is closed.
        """
        with self._lock:
            if self.closed:
                return
            self._writer.write(self._conns[topic], t_ns, data)
            self.counts[topic] += 1

    def flush(self) -> None:
        """Push everything written so far to the disk (a complete MCAP chunk / a commit)."""
        with self._lock:
            if self.closed:
                return
            store = self._writer.storage
            if self.storage == "mcap":
                if store.chunk.bio.tell():
                    store.close_chunk()
                store.bio.flush()
                os.fsync(store.bio.fileno())
            else:
                store.conn.commit()

    def close(self) -> None:
        """Write the MCAP summary/footer (or commit sqlite3) and metadata.yaml."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._writer.close()


def _message_class(msgtype: str):
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def _qos_for(node: Node, topic: str) -> QoSProfile | None:
    """Match the publishers: best effort if any publisher is, transient local if all are.

    None while the graph lists the topic but no publisher's QoS has arrived yet: guessing
    reliable then would never match a best-effort (sensor) publisher.
    """
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    latched = bool(infos) and all(
        i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1000,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class RecorderNode(Node):
    """Subscribes (serialized) to the chosen topics as they appear and writes them to a bag."""

    def __init__(self, node_name: str = "recorder", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.params: RecorderParams = declare_from_dataclass(self, RecorderParams)
        p = self.params
        out = p.output or time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
        self.writer = BagWriter(out, p.storage)
        self.wanted = {self._absolute(t) for t in p.topics.replace(",", " ").split() if t}
        if not self.wanted and not p.all_topics:
            raise ValueError("recorder: no topics to record (set topics or all_topics)")
        self._subs: dict[str, object] = {}
        self._refused: set[str] = set()
        self._t_start = time.monotonic()
        self.done = threading.Event()
        self._discover()
        self.create_timer(p.discovery_period_s, self._discover)
        self.create_timer(p.flush_period_s, self._flush)
        self.get_logger().info(
            f"recording {sorted(self.wanted) if not p.all_topics else 'all topics'} to "
            f"{self.writer.path} ({p.storage})"
        )

    def _absolute(self, topic: str) -> str:
        if topic.startswith("/"):
            return topic
        ns = self.get_namespace().rstrip("/")
        return f"{ns}/{topic}"

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._subs or topic in self._refused:
                continue
            if not self.params.all_topics and topic not in self.wanted:
                continue
            msgtype = types[0]
            qos = _qos_for(self, topic)
            if qos is None:  # its publishers' QoS not known yet: the next look decides
                continue
            try:
                self.writer.add_topic(topic, msgtype)
                cls = _message_class(msgtype)
            except (ValueError, ImportError, AttributeError) as exc:
                self._refused.add(topic)
                self.get_logger().error(f"not recording {topic}: {exc}")
                continue
            self._subs[topic] = self.create_subscription(
                cls,
                topic,
                lambda raw, t=topic: self._on_message(t, raw),
                qos,
                raw=True,
            )
            self.get_logger().info(f"recording {topic} [{msgtype}]")

    def _on_message(self, topic: str, raw: bytes) -> None:
        self.writer.write(topic, time.time_ns(), raw)

    def _flush(self) -> None:
        self.writer.flush()
        limit = self.params.max_duration_s
        if limit > 0 and time.monotonic() - self._t_start >= limit:
            self.done.set()

    def missing_topics(self) -> list[str]:
        """Wanted topics never seen, so not recorded."""
        return sorted(self.wanted - set(self._subs))

    def stop(self) -> None:
        """Close the bag cleanly (summary, footer, metadata.yaml)."""
        for sub in self._subs.values():
            self.destroy_subscription(sub)
        self._subs.clear()
        self.writer.close()
