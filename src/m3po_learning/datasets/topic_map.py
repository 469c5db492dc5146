"""Topic maps: which bag topics carry joint states, commands and task inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from m3po_learning.datasets.errors import BagError
from m3po_learning.yaml_io import read_mapping, short_repr

DEFAULT_TOPIC_MAP_FILE = "default.yaml"
_KEYS = ("namespace", "joint_states", "commands", "inputs", "split_on", "joint_map")


@dataclass(frozen=True)
class TopicMap:
    """Roles -> topic names. Relative names resolve against the bag (see `resolve`)."""

    joint_states: str = "joint_states"  # sensor_msgs/JointState
    commands: str = "joint_commands"  # std_msgs/Float64MultiArray, efforts in action order
    inputs: tuple[tuple[str, str], ...] = (("goal", "goal"),)  # (input name, topic) pairs
    split_on: tuple[str, ...] = ()  # topics whose every message starts a new episode
    namespace: str = ""  # prefix for relative names
    # (bag joint name, task joint name) pairs: a robot whose driver names its joints
    # otherwise (j1, j2 for shoulder, elbow). Commands stay in the task's joint order.
    joint_map: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for key in ("joint_states", "commands"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip("/"):
                raise BagError(f"topic map: {key}={value!r} must be a non-empty topic name")
        for name, topic in self.inputs:
            if not isinstance(topic, str) or not topic.strip("/"):
                raise BagError(f"topic map: inputs.{name}={topic!r} must be a topic name")
        targets = [t for _, t in self.joint_map]
        for src, dst in self.joint_map:
            if not (isinstance(src, str) and src and isinstance(dst, str) and dst):
                raise BagError(f"topic map: joint_map {src!r} -> {dst!r} must map names to names")
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise BagError(f"topic map: joint_map maps several bag joints onto {dup}")

    def rename_joints(self, names: Sequence[str]) -> tuple[str, ...]:
        """Joint names as the task calls them (`joint_map` applied; others unchanged)."""
        mapping = dict(self.joint_map)
        return tuple(mapping.get(n, n) for n in names)

    @property
    def input_topics(self) -> dict[str, str]:
        """Input name -> topic name, e.g. {"goal": "goal"}."""
        return dict(self.inputs)

    def with_remaps(self, remaps: Sequence[str]) -> TopicMap:
        """Apply `KEY=NAME` remaps: joint_states, commands, namespace, inputs.<name>."""
        out = self
        for item in remaps:
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise BagError(f"topic remap {item!r} is not KEY=NAME (e.g. commands=/arm/cmd)")
            if key.startswith("inputs."):
                name = key.split(".", 1)[1]
                inputs = dict(out.inputs)
                inputs[name] = value
                out = replace(out, inputs=tuple(inputs.items()))
            elif key == "split_on":
                out = replace(out, split_on=tuple(v for v in value.split(",") if v))
            elif key == "joint_map":
                out = replace(out, joint_map=parse_joint_map(value))
            elif key in ("joint_states", "commands", "namespace"):
                out = replace(out, **{key: value})
            else:
                raise BagError(
                    f"topic remap {item!r}: unknown key {key!r}; use joint_states, commands, "
                    "namespace, split_on, joint_map or inputs.<name>"
                )
        return out

    def to_dict(self) -> dict:
        """Plain dict in the topic-map YAML layout (inputs as a mapping, split_on a list)."""
        return {
            "namespace": self.namespace,
            "joint_states": self.joint_states,
            "commands": self.commands,
            "inputs": dict(self.inputs),
            "split_on": list(self.split_on),
            "joint_map": dict(self.joint_map),
        }


@dataclass(frozen=True)
class BagTopic:
    """A topic as a bag lists it."""

    name: str  # absolute topic name, e.g. "/joint_states"
    msgtype: str  # e.g. "sensor_msgs/msg/JointState"
    count: int = -1  # message count from the bag's index (-1: unknown, e.g. truncated)
    extra: dict = field(default_factory=dict, compare=False)


def describe_topics(topics: Mapping[str, BagTopic]) -> str:
    """One line per topic, for error messages."""
    if not topics:
        return "(none)"
    parts = []
    for t in sorted(topics.values(), key=lambda t: t.name):
        n = "?" if t.count < 0 else str(t.count)
        parts.append(f"{t.name} [{t.msgtype}, {n} msgs]")
    return ", ".join(parts)


def resolve_topic(
    role: str, name: str, topics: Mapping[str, BagTopic], namespace: str = "", bag: str = ""
) -> str:
    """The bag topic for `name`: exact if absolute, else /ns/name, /name or a unique suffix."""
    if name.startswith("/"):
        if name in topics:
            return name
    else:
        ns = namespace.strip("/")
        for cand in ([f"/{ns}/{name}"] if ns else []) + [f"/{name}"]:
            if cand in topics:
                return cand
        ends = [t for t in topics if t.endswith("/" + name)]
        if len(ends) == 1:
            return ends[0]
        if len(ends) > 1:
            raise BagError(
                f"bag {bag}: topic {name!r} for {role} is ambiguous, it matches {sorted(ends)}; "
                "set an absolute name or a namespace in the topic map"
            )
    raise BagError(
        f"bag {bag}: no topic {name!r} for {role} (topic map); the bag has: "
        f"{describe_topics(topics)}"
    )


def topic_map_dir() -> Path:
    """config/topics in a checkout or the installed share directory."""
    from m3po_learning.paths import config_dir

    return config_dir() / "topics"


def parse_joint_map(text: str) -> tuple[tuple[str, str], ...]:
    """'j1=shoulder,j2=elbow' -> (('j1', 'shoulder'), ('j2', 'elbow')) (BagError if malformed)."""
    pairs = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise BagError(f"joint map entry {item!r} is not BAG_JOINT=TASK_JOINT (j1=shoulder)")
        pairs.append((src.strip(), dst.strip()))
    return tuple(pairs)


def _name(value: object, key: str, file: Path | None, default: str) -> str:
    """A topic (or namespace, input) name read from a topic map: a scalar, never a container."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BagError(f"topic map {file}: {key} must be a topic name, got {short_repr(value)}")
    return str(value)


def load_topic_map(path: str | Path | None = None, remaps: Sequence[str] = ()) -> TopicMap:
    """Read a topic-map YAML (default: config/topics/default.yaml) and apply `remaps`.

    `path` may be a file or a name in config/topics/ ("default"). Unknown keys are errors;
    names must be scalars (an empty value keeps the default), `inputs` a mapping and
    `split_on` a name or a list of names.

    Raises:
        BagError: a missing or malformed file, an unknown key, a value of the wrong type or
            a malformed remap; the message names the file or the remap.
    """
    if path is None:
        try:
            file = topic_map_dir() / DEFAULT_TOPIC_MAP_FILE
        except FileNotFoundError:
            file = None
    else:
        file = Path(path)
        if not file.suffix:
            file = topic_map_dir() / f"{path}.yaml"
    data: dict = {}
    if file is not None:
        if not file.is_file():
            raise BagError(f"topic map {str(path)!r} not found at {file}")
        data = read_mapping(file, known=_KEYS, what="topic map", error=BagError)
    inputs = data.get("inputs", {"goal": "goal"}) or {}
    if not isinstance(inputs, dict):
        raise BagError(
            f"topic map {file}: inputs must be a mapping name -> topic, got {short_repr(inputs)}"
        )
    joint_map = data.get("joint_map", {}) or {}
    if not isinstance(joint_map, dict):
        raise BagError(
            f"topic map {file}: joint_map must be a mapping bag joint -> task joint, got "
            f"{short_repr(joint_map)}"
        )
    split_on = data.get("split_on", []) or []
    if not isinstance(split_on, list):
        split_on = [split_on]
    tm = TopicMap(
        joint_states=_name(data.get("joint_states"), "joint_states", file, "joint_states"),
        commands=_name(data.get("commands"), "commands", file, "joint_commands"),
        inputs=tuple((str(k), _name(v, f"inputs.{k}", file, "")) for k, v in inputs.items()),
        split_on=tuple(n for s in split_on if (n := _name(s, "split_on", file, ""))),
        namespace=_name(data.get("namespace"), "namespace", file, ""),
        joint_map=tuple(
            (_name(k, "joint_map", file, ""), _name(v, f"joint_map.{k}", file, ""))
            for k, v in joint_map.items()
        ),
    )
    return tm.with_remaps(remaps)
