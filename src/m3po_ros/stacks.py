"""Stack descriptions (config/stacks/*.yaml), read by both the launch files and `m3po bringup`.

A stack names its launch arguments (with defaults and descriptions) and its nodes: the
executable, node name, namespace, parameter files (relative to the config directory) and
parameters set from arguments with `$(arg)` substitutions, and topic remaps (`remap:`
from -> to, also with substitutions: how the controller meets a ros2_control robot's
`/joint_states` and `/<controller>/commands`). Both front ends resolve the same file, so
they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m3po_learning.yaml_io import read_mapping
from m3po_ros.params import ControllerParams, LearnerParams, ParamError, SimParams, convert_value

# Executable -> (module with main(), node class, params dataclass).
EXECUTABLES: dict[str, tuple[str, str, type]] = {
    "controller_node": ("m3po_ros.controller_node", "ControllerNode", ControllerParams),
    "sim_node": ("m3po_ros.sim_node", "SimNode", SimParams),
    "learner_node": ("m3po_ros.learner_node", "LearnerNode", LearnerParams),
}
# Lifecycle nodes: started unconfigured; the bringup and the launch files drive them to
# active when their `autostart` parameter is true (m3po_ros.autostart).
LIFECYCLE_EXECUTABLES = frozenset({"controller_node"})
# Parameters every rclpy node has besides the ones it declares.
BUILTIN_PARAMS = {"use_sim_time": bool}
_SUBST = re.compile(r"\$\((\w+)\)")


class StackError(ValueError):
    """A stack file is malformed, names something that does not exist, or lacks an argument."""


@dataclass(frozen=True)
class Argument:
    """One launch argument of a stack."""

    name: str  # launch argument name
    default: str  # default value, as text (launch arguments are strings)
    description: str  # shown by `ros2 launch -s` and `m3po bringup --help`


@dataclass(frozen=True)
class NodeEntry:
    """One node of a stack file, before argument substitution."""

    executable: str  # console script / `ros2 run` executable
    name: str  # node name
    namespace: str  # namespace under the stack's namespace ("" = the stack's)
    parameters: tuple[str, ...]  # parameter files, relative to the config directory
    set: tuple[tuple[str, str], ...]  # parameter name -> value text with $(arg) substitutions
    remap: tuple[tuple[str, str], ...] = ()  # topic -> topic, with $(arg) substitutions


@dataclass(frozen=True)
class ResolvedNode:
    """One node of a stack with its arguments substituted, ready to start."""

    executable: str
    name: str
    namespace: str  # absolute namespace, e.g. "/robot_0" or "/"
    parameter_files: tuple[Path, ...]  # absolute paths
    parameters: dict[str, Any]  # typed values after substitution
    remaps: tuple[tuple[str, str], ...] = ()  # (from, to) topic names after substitution

    @property
    def node_class(self):
        """The node class of `executable`, imported from its module."""
        import importlib

        module, cls, _ = EXECUTABLES[self.executable]
        return getattr(importlib.import_module(module), cls)


@dataclass(frozen=True)
class Stack:
    """A stack file: its launch arguments and its nodes."""

    name: str
    description: str
    arguments: tuple[Argument, ...]
    nodes: tuple[NodeEntry, ...]
    config_root: Path  # the config directory parameter files are relative to

    def defaults(self) -> dict[str, str]:
        """Argument name -> default value text."""
        return {a.name: a.default for a in self.arguments}

    def resolve(self, args: dict[str, str] | None = None) -> list[ResolvedNode]:
        """Nodes with argument values substituted and converted to each parameter's type."""
        values = self.defaults()
        unknown = sorted(set(args or {}) - set(values))
        if unknown:
            raise StackError(
                f"stack {self.name!r}: unknown arguments {unknown}; it takes {sorted(values)}"
            )
        values.update(args or {})
        base_ns = values.get("namespace", "").strip("/")
        out = []
        for node in self.nodes:
            params_cls = EXECUTABLES[node.executable][2]
            params: dict[str, Any] = {}
            for key, text in node.set:
                value = _substitute(text, values, self.name)
                if key in BUILTIN_PARAMS:
                    params[key] = value.lower() == "true" if isinstance(value, str) else value
                    continue
                try:
                    params[key] = convert_value(params_cls, key, value)
                except ParamError as exc:
                    raise StackError(f"stack {self.name!r}, node {node.name!r}: {exc}") from exc
            ns = "/".join(p for p in (base_ns, node.namespace.strip("/")) if p)
            files = tuple(self.config_root / f for f in node.parameters)
            remaps = []
            for src, dst in node.remap:
                to = str(_substitute(dst, values, self.name))
                if not to.strip("/"):
                    raise StackError(
                        f"stack {self.name!r}, node {node.name!r}: remap of {src!r} is empty"
                    )
                if to != src:  # the default: no remap
                    remaps.append((src, to))
            out.append(
                ResolvedNode(node.executable, node.name, "/" + ns, files, params, tuple(remaps))
            )
        return out


def _substitute(text: Any, values: dict[str, str], stack: str) -> Any:
    if not isinstance(text, str):
        return text
    for name in _SUBST.findall(text):
        if name not in values:
            raise StackError(f"stack {stack!r}: $({name}) is not one of its arguments")
    return _SUBST.sub(lambda m: values[m.group(1)], text)


def config_root() -> Path:
    """The config directory: the source checkout's, else the installed share directory."""
    from m3po_learning.paths import config_dir

    return config_dir()


def list_stacks(root: Path | None = None) -> list[str]:
    """Names of the stacks in <root>/stacks (default: the config directory), sorted."""
    return sorted(p.stem for p in ((root or config_root()) / "stacks").glob("*.yaml"))


def load_stack(name_or_path: str | Path, root: Path | None = None) -> Stack:
    """Read config/stacks/<name>.yaml (or a path) and check what it names exists."""
    root = Path(root) if root is not None else config_root()
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = root / "stacks" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise StackError(
            f"stack {str(name_or_path)!r} not found at {path}; stacks: {list_stacks(root)}"
        )
    data = read_mapping(
        path, known=("description", "arguments", "nodes"), what="stack", error=StackError
    )
    arguments = tuple(
        Argument(n, str(a.get("default", "")), str(a.get("description", "")))
        for n, a in (data.get("arguments") or {}).items()
    )
    nodes = []
    for i, entry in enumerate(data.get("nodes") or []):
        keys = {"executable", "name", "namespace", "parameters", "set", "remap"}
        extra = sorted(set(entry) - keys)
        if extra:
            raise StackError(f"stack {path}: node {i} has unknown keys {extra}")
        exe = entry.get("executable")
        if exe not in EXECUTABLES:
            raise StackError(
                f"stack {path}: node {i} executable {exe!r} is not one of {sorted(EXECUTABLES)}"
            )
        params_cls = EXECUTABLES[exe][2]
        fields = set(params_cls.__dataclass_fields__) | set(BUILTIN_PARAMS)
        sets = entry.get("set") or {}
        bad = sorted(set(sets) - fields)
        if bad:
            raise StackError(
                f"stack {path}: node {entry.get('name')!r} sets unknown parameters {bad}"
            )
        remap = entry.get("remap") or {}
        if not isinstance(remap, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in remap.items()
        ):
            raise StackError(
                f"stack {path}: node {entry.get('name')!r} remap must map topic names to "
                f"topic names, got {remap!r}"
            )
        for f in entry.get("parameters") or []:
            if not (root / f).is_file():
                raise StackError(f"stack {path}: parameter file {f!r} not found in {root}")
        nodes.append(
            NodeEntry(
                exe,
                str(entry.get("name", exe)),
                str(entry.get("namespace", "")),
                tuple(entry.get("parameters") or ()),
                tuple(
                    (k, v if not isinstance(v, bool) else str(v).lower()) for k, v in sets.items()
                ),
                tuple(remap.items()),
            )
        )
    if not nodes:
        raise StackError(f"stack {path} names no nodes")
    return Stack(path.stem, str(data.get("description", "")), arguments, tuple(nodes), root)
